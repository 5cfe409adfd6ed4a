"""Sign save/delete callbacks the way Google does, with keys the tests generate."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from passes.google_callback import PROTOCOL_VERSION, SENDER_ID, signed_bytes


def _public_b64(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


class CallbackSigner:
    """A stand-in for Google's callback signing: a root key and an intermediate."""

    def __init__(self, root_expires_ms: int | None = None) -> None:
        self.root = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = ec.generate_private_key(ec.SECP256R1())
        now_ms = int(time.time() * 1000)
        self.root_expires_ms = root_expires_ms or now_ms + 365 * 86400 * 1000

    def root_keys(self) -> dict[str, Any]:
        """The JSON Google serves at pay.google.com/gp/m/issuer/keys."""
        return {
            "keys": [
                {
                    "keyValue": _public_b64(self.root),
                    "protocolVersion": PROTOCOL_VERSION,
                    "keyExpiration": str(self.root_expires_ms),
                }
            ]
        }

    def body(
        self,
        issuer_id: str,
        object_id: str,
        event_type: str = "save",
        nonce: str | None = None,
        key_expires_ms: int | None = None,
        exp_time_ms: int | None = None,
        root: ec.EllipticCurvePrivateKey | None = None,
    ) -> dict[str, Any]:
        """A callback body as Google POSTs it."""
        now_ms = int(time.time() * 1000)
        signed_key = json.dumps(
            {
                "keyValue": _public_b64(self.intermediate),
                "keyExpiration": str(key_expires_ms or now_ms + 86400 * 1000),
            }
        )
        signed_message = json.dumps(
            {
                "classId": object_id.rsplit(".", 1)[0],
                "objectId": object_id,
                "eventType": event_type,
                "expTimeMillis": exp_time_ms or now_ms + 3600 * 1000,
                "count": 1,
                "nonce": nonce or secrets.token_hex(16),
            }
        )
        return {
            "signature": _sign(
                self.intermediate,
                signed_bytes(SENDER_ID, issuer_id, PROTOCOL_VERSION, signed_message),
            ),
            "intermediateSigningKey": {
                "signedKey": signed_key,
                "signatures": [
                    _sign(
                        root or self.root,
                        signed_bytes(SENDER_ID, PROTOCOL_VERSION, signed_key),
                    )
                ],
            },
            "protocolVersion": PROTOCOL_VERSION,
            "signedMessage": signed_message,
        }
