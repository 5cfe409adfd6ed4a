"""Verify Google Wallet's signed save/delete callbacks (protocol ECv2SigningOnly).

Google signs an intermediate key with one of its root keys, and the message with
the intermediate key. Each signature covers length-prefixed fields (4-byte
little-endian byte length, then the UTF-8 bytes):

- intermediate key: sender id, protocol version, `signedKey` (a JSON string);
- message: sender id, recipient id (our issuer id), protocol version,
  `signedMessage` (a JSON string).

Keys are base64 DER SubjectPublicKeyInfo (P-256); signatures base64 DER ECDSA-SHA256.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from passes.errors import CallbackError as CallbackError  # also importable here

PROTOCOL_VERSION = "ECv2SigningOnly"
SENDER_ID = "GooglePayPasses"
EVENT_TYPES = ("save", "del")
# Bounds checked before any signature is verified (Google's messages are ~1 KB:
# one or two signatures of ~96 base64 characters, fields of a few hundred).
MAX_SIGNATURES = 3
MAX_ROOT_KEYS = 3
MAX_SIGNATURE_CHARS = 256
MAX_FIELD_CHARS = 4096
MAX_BODY_BYTES = 16 * 1024


@dataclass(frozen=True)
class CallbackMessage:
    class_id: str
    object_id: str
    event_type: str  # "save" or "del"
    exp_time_ms: int
    count: int
    nonce: str


def signed_bytes(*fields: str) -> bytes:
    """The byte string a signature covers: each field length-prefixed."""
    out = bytearray()
    for text in fields:
        data = text.encode("utf-8")
        out += len(data).to_bytes(4, "little") + data
    return bytes(out)


def _public_key(value: str) -> ec.EllipticCurvePublicKey:
    try:
        key = load_der_public_key(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error, TypeError) as error:
        raise CallbackError("malformed public key") from error
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise CallbackError("public key is not an EC key")
    return key


def _verifies(key: ec.EllipticCurvePublicKey, signature: str, data: bytes) -> bool:
    try:
        key.verify(
            base64.b64decode(signature, validate=True), data, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, ValueError, binascii.Error, TypeError):
        return False
    return True


def _string(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise CallbackError(f"{key} missing")
    return value


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:  # "[[[[..." recurses per level
        raise CallbackError(f"{what} is not JSON") from error
    if not isinstance(value, dict):
        raise CallbackError(f"{what} is not a JSON object")
    return value


def _millis(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CallbackError(f"{what} is not a number")
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise CallbackError(f"{what} is not a number")
    if len(str(value)) > 20:
        raise CallbackError(f"{what} is out of range")
    return int(value)


def _bounded(mapping: Mapping[str, Any], key: str, limit: int) -> str:
    value = _string(mapping, key)
    if len(value) > limit:
        raise CallbackError(f"{key} is too long")
    return value


def _signatures(intermediate: Mapping[str, Any]) -> list[str]:
    signatures = intermediate.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise CallbackError("intermediate key signatures missing")
    if len(signatures) > MAX_SIGNATURES:
        raise CallbackError("too many intermediate key signatures")
    if not all(
        isinstance(item, str) and 0 < len(item) <= MAX_SIGNATURE_CHARS
        for item in signatures
    ):
        raise CallbackError("malformed intermediate key signature")
    return signatures


def _current_roots(
    root_keys: Sequence[Mapping[str, Any]], now_ms: int
) -> list[ec.EllipticCurvePublicKey]:
    """Google's unexpired root keys of this protocol, newest first, at most
    MAX_ROOT_KEYS (Google publishes one or two)."""
    current: list[tuple[int, str]] = []
    for key in root_keys:
        if key.get("protocolVersion") != PROTOCOL_VERSION:
            continue
        expires = key.get("keyExpiration")
        expiry = _millis(expires, "root keyExpiration") if expires else 2**63
        if expiry > now_ms:
            current.append((expiry, str(key.get("keyValue", ""))))
    current.sort(reverse=True)
    return [_public_key(value) for _, value in current[:MAX_ROOT_KEYS]]


def verify_callback(
    body: Any,
    root_keys: Sequence[Mapping[str, Any]],
    recipient_id: str,
    now_ms: int,
    sender_id: str = SENDER_ID,
) -> CallbackMessage:
    """The verified message of a callback body, or CallbackError.

    Every cheap check (shape, sizes, protocol, recipient, expiry) comes before
    any signature is verified, and at most MAX_SIGNATURES x MAX_ROOT_KEYS + 1
    signatures are: a junk message costs microseconds, not a verification per
    signature it carries.

    :param root_keys: Google's root keys, `{"keyValue", "protocolVersion",
        "keyExpiration"}` each (the `keys` of pay.google.com/gp/m/issuer/keys).
    :param recipient_id: our issuer id.
    :param now_ms: the current time, milliseconds since the epoch.
    """
    # 1. Shape and sizes.
    if not isinstance(body, Mapping):
        raise CallbackError("body is not a JSON object")
    if body.get("protocolVersion") != PROTOCOL_VERSION:
        raise CallbackError("unsupported protocolVersion")
    intermediate = body.get("intermediateSigningKey")
    if not isinstance(intermediate, Mapping):
        raise CallbackError("intermediateSigningKey missing")
    signed_key = _bounded(intermediate, "signedKey", MAX_FIELD_CHARS)
    signatures = _signatures(intermediate)
    signed_message = _bounded(body, "signedMessage", MAX_FIELD_CHARS)
    signature = _bounded(body, "signature", MAX_SIGNATURE_CHARS)

    # 2. What the (not yet verified) fields say: for us, current, known event.
    key_fields = _json_object(signed_key, "signedKey")
    if _millis(key_fields.get("keyExpiration"), "keyExpiration") <= now_ms:
        raise CallbackError("intermediate signing key has expired")
    fields = _json_object(signed_message, "signedMessage")
    message = CallbackMessage(
        class_id=_string(fields, "classId"),
        object_id=_string(fields, "objectId"),
        event_type=_string(fields, "eventType"),
        exp_time_ms=_millis(fields.get("expTimeMillis"), "expTimeMillis"),
        count=_millis(fields.get("count", 1), "count"),
        nonce=_string(fields, "nonce"),
    )
    if message.event_type not in EVENT_TYPES:
        raise CallbackError("unknown eventType")
    if message.exp_time_ms <= now_ms:
        raise CallbackError("message has expired")
    if not message.object_id.startswith(recipient_id + "."):
        raise CallbackError("object of another issuer")
    intermediate_key = _public_key(str(key_fields.get("keyValue", "")))

    # 3. The intermediate key is signed by a current root key (few tries).
    key_data = signed_bytes(sender_id, PROTOCOL_VERSION, signed_key)
    if not any(
        _verifies(root, item, key_data)
        for root in _current_roots(root_keys, now_ms)
        for item in signatures
    ):
        raise CallbackError("intermediate signing key is not signed by Google")

    # 4. The message is signed by the intermediate key, for us.
    message_data = signed_bytes(
        sender_id, recipient_id, PROTOCOL_VERSION, signed_message
    )
    if not _verifies(intermediate_key, signature, message_data):
        raise CallbackError("message signature does not verify")
    return message
