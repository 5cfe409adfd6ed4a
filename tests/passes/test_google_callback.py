"""ECv2SigningOnly verification of Google's save/delete callbacks, without the app."""

from __future__ import annotations

import json
import time

import pytest

from passes.google_callback import (
    CallbackError,
    signed_bytes,
    verify_callback,
)
from tests.support.google_callbacks import CallbackSigner

ISSUER = "3388000000000000042"
OBJECT = f"{ISSUER}.severnaya.abc"


def now_ms() -> int:
    return int(time.time() * 1000)


def test_signed_bytes_are_length_prefixed_utf8() -> None:
    assert signed_bytes("ab", "") == b"\x02\x00\x00\x00ab\x00\x00\x00\x00"
    # Byte length, not character length.
    assert signed_bytes("ё") == b"\x02\x00\x00\x00\xd1\x91"


def test_a_valid_callback_verifies() -> None:
    signer = CallbackSigner()
    body = signer.body(ISSUER, OBJECT, "del", nonce="n-1")
    message = verify_callback(body, signer.root_keys()["keys"], ISSUER, now_ms())
    assert message.object_id == OBJECT
    assert message.class_id == f"{ISSUER}.severnaya"
    assert message.event_type == "del"
    assert message.nonce == "n-1"


def test_it_survives_a_json_round_trip() -> None:
    signer = CallbackSigner()
    body = json.loads(json.dumps(signer.body(ISSUER, OBJECT)))
    verify_callback(body, signer.root_keys()["keys"], ISSUER, now_ms())


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("expired_root", "not signed by Google"),
        ("other_protocol_root", "not signed by Google"),
        ("wrong_sender", "not signed by Google"),
        ("wrong_recipient", "object of another issuer"),
        ("expired_key", "intermediate signing key has expired"),
        ("expired_message", "message has expired"),
        ("bad_event", "unknown eventType"),
    ],
)
def test_bad_callbacks_are_rejected(case: str, error: str) -> None:
    signer = CallbackSigner()
    roots = signer.root_keys()["keys"]
    body = signer.body(ISSUER, OBJECT)
    recipient, sender = ISSUER, "GooglePayPasses"
    if case == "expired_root":
        roots[0]["keyExpiration"] = str(now_ms() - 1)
    elif case == "other_protocol_root":
        roots[0]["protocolVersion"] = "ECv1"
    elif case == "wrong_sender":
        sender = "GoogleWalletPasses"
    elif case == "wrong_recipient":
        recipient = "3388000000000000999"
    elif case == "expired_key":
        body = signer.body(ISSUER, OBJECT, key_expires_ms=now_ms() - 1000)
    elif case == "expired_message":
        body = signer.body(ISSUER, OBJECT, exp_time_ms=now_ms() - 1000)
    elif case == "bad_event":
        body = signer.body(ISSUER, OBJECT, event_type="update")
    with pytest.raises(CallbackError, match=error):
        verify_callback(body, roots, recipient, now_ms(), sender_id=sender)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"protocolVersion": "ECv2SigningOnly"},
        {"protocolVersion": "ECv2SigningOnly", "intermediateSigningKey": {}},
        {
            "protocolVersion": "ECv2SigningOnly",
            "intermediateSigningKey": {"signedKey": "{}", "signatures": ["!!"]},
        },
    ],
)
def test_malformed_bodies_are_rejected(body: object) -> None:
    signer = CallbackSigner()
    with pytest.raises(CallbackError):
        verify_callback(body, signer.root_keys()["keys"], ISSUER, now_ms())


def test_more_than_a_few_signatures_are_refused_unverified() -> None:
    signer = CallbackSigner()
    body = signer.body(ISSUER, OBJECT)
    real = body["intermediateSigningKey"]["signatures"][0]
    body["intermediateSigningKey"]["signatures"] = ["MEUCIQ" + "A" * 90] * 3 + [real]
    with pytest.raises(CallbackError, match="too many intermediate key signatures"):
        verify_callback(body, signer.root_keys()["keys"], ISSUER, now_ms())
    body["intermediateSigningKey"]["signatures"] = ["MEUCIQ" + "A" * 90] * 2 + [real]
    verify_callback(body, signer.root_keys()["keys"], ISSUER, now_ms())


def test_cheap_checks_come_before_signatures() -> None:
    """A junk message is refused on what it says, before any key is used: with
    no usable root key at all, the reason is still the message's own."""
    signer = CallbackSigner()
    for body, reason in (
        (signer.body(ISSUER, OBJECT, exp_time_ms=1000), "message has expired"),
        (signer.body(ISSUER, "999.other.x"), "object of another issuer"),
        (signer.body(ISSUER, OBJECT, event_type="x"), "unknown eventType"),
        (signer.body(ISSUER, OBJECT, key_expires_ms=1000), "key has expired"),
    ):
        with pytest.raises(CallbackError, match=reason):
            verify_callback(body, [], ISSUER, now_ms())


def test_only_the_newest_few_root_keys_are_tried() -> None:
    signer = CallbackSigner()
    body = signer.body(ISSUER, OBJECT)
    real = signer.root_keys()["keys"][0]
    decoys = [
        {**CallbackSigner().root_keys()["keys"][0], "keyExpiration": str(2**50 + n)}
        for n in range(3)
    ]
    # Three newer decoys push the real (older) key out of the keys considered.
    with pytest.raises(CallbackError, match="not signed by Google"):
        verify_callback(body, [real, *decoys], ISSUER, now_ms())
    verify_callback(body, [real, *decoys[:2]], ISSUER, now_ms())


@pytest.mark.parametrize(
    "field",
    [
        {"signature": "A" * 300},
        {"signedMessage": "x" * 5000},
        {"signedMessage": "[" * 100_000},
        {"signedMessage": '{"expTimeMillis": 1e999}'},
        {"signedMessage": '{"expTimeMillis": "²"}'},
    ],
)
def test_hostile_fields_are_callback_errors(field: dict[str, str]) -> None:
    signer = CallbackSigner()
    body = signer.body(ISSUER, OBJECT) | field
    with pytest.raises(CallbackError):
        verify_callback(body, signer.root_keys()["keys"], ISSUER, now_ms())
