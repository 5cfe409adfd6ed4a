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
    except ValueError as error:
        raise CallbackError(f"{what} is not JSON") from error
    if not isinstance(value, dict):
        raise CallbackError(f"{what} is not a JSON object")
    return value


def _millis(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise CallbackError(f"{what} is not a number") from error


def verify_callback(
    body: Any,
    root_keys: Sequence[Mapping[str, Any]],
    recipient_id: str,
    now_ms: int,
    sender_id: str = SENDER_ID,
) -> CallbackMessage:
    """The verified message of a callback body, or CallbackError.

    :param root_keys: Google's root keys, `{"keyValue", "protocolVersion",
        "keyExpiration"}` each (the `keys` of pay.google.com/gp/m/issuer/keys).
    :param recipient_id: our issuer id.
    :param now_ms: the current time, milliseconds since the epoch.
    """
    if not isinstance(body, Mapping):
        raise CallbackError("body is not a JSON object")
    if body.get("protocolVersion") != PROTOCOL_VERSION:
        raise CallbackError("unsupported protocolVersion")
    intermediate = body.get("intermediateSigningKey")
    if not isinstance(intermediate, Mapping):
        raise CallbackError("intermediateSigningKey missing")
    signed_key = _string(intermediate, "signedKey")
    signatures = intermediate.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise CallbackError("intermediate key signatures missing")

    # 1. The intermediate key is signed by a current root key.
    usable_roots = [
        _public_key(str(key.get("keyValue", "")))
        for key in root_keys
        if key.get("protocolVersion") == PROTOCOL_VERSION
        and (
            not key.get("keyExpiration")
            or _millis(key["keyExpiration"], "root keyExpiration") > now_ms
        )
    ]
    key_data = signed_bytes(sender_id, PROTOCOL_VERSION, signed_key)
    if not any(
        _verifies(root, str(signature), key_data)
        for root in usable_roots
        for signature in signatures
    ):
        raise CallbackError("intermediate signing key is not signed by Google")

    # 2. The intermediate key has not expired.
    key_fields = _json_object(signed_key, "signedKey")
    if _millis(key_fields.get("keyExpiration"), "keyExpiration") <= now_ms:
        raise CallbackError("intermediate signing key has expired")

    # 3. The message is signed by the intermediate key, for us.
    signed_message = _string(body, "signedMessage")
    message_data = signed_bytes(
        sender_id, recipient_id, PROTOCOL_VERSION, signed_message
    )
    intermediate_key = _public_key(str(key_fields.get("keyValue", "")))
    if not _verifies(intermediate_key, _string(body, "signature"), message_data):
        raise CallbackError("message signature does not verify")

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
    return message
