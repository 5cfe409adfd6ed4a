"""A local stand-in for the Google Wallet API: real HTTP on loopback, in a thread.

- `POST /token`: the OAuth 2.0 JWT-bearer grant. The assertion's RS256 signature is
  verified with the service account's public key, and its kid, iss, aud and scope
  are checked, as Google's token endpoint does; it hands out bearer tokens.
- `/walletobjects/v1/loyaltyClass|loyaltyObject[/<id>[/addMessage]]`: a stateful
  store; insert answers 409 for an existing id, GET/PATCH/PUT/addMessage 404 for a
  missing one. Every body is checked against Google's discovery schema (400
  `invalidResource` otherwise). addMessage keeps Google's limits: 403
  `quotaExceeded` for a 4th TEXT_AND_NOTIFY within 24 h, 400 past 10 messages.
- `GET /gp/m/issuer/keys`: root signing keys for save/delete callbacks.
- Switches: `fail(status, reason)` queues error answers (403 quotaExceeded, 429,
  500, 403 permissionDenied...); `revoke_tokens()` makes every token stale (401),
  so clients must refresh.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.auth import jwt as google_jwt
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.support import google_schema

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
# The audience Google's token endpoint requires, wherever the request is sent.
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
API_PREFIX = "/walletobjects/v1/"
KINDS = {"loyaltyClass": "LoyaltyClass", "loyaltyObject": "LoyaltyObject"}


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_rs256(token: str, public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    """The claims of an RS256 JWT whose signature `public_key` verifies.

    Raises cryptography's InvalidSignature otherwise. (google.auth.jwt.decode
    insists on `exp`, which Save JWTs do not carry.)
    """
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(_b64decode(header_b64))
    if header.get("alg") != "RS256":
        raise ValueError(f"unexpected alg {header.get('alg')!r}")
    public_key.verify(
        _b64decode(signature_b64),
        f"{header_b64}.{payload_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    return json.loads(_b64decode(payload_b64))


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    status: int


def _error(status: int, reason: str, message: str) -> Response:
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [
                {"message": message, "domain": "walletobjects", "reason": reason}
            ],
        }
    }
    return Response(json.dumps(body), status, content_type="application/json")


def _ok(body: Any) -> Response:
    return Response(json.dumps(body), 200, content_type="application/json")


class GoogleStandIn:
    """The Google Wallet REST API and token endpoint on 127.0.0.1 (HTTP)."""

    def __init__(
        self, service_account: dict[str, Any], root_keys: dict[str, Any] | None = None
    ) -> None:
        key = serialization.load_pem_private_key(
            service_account["private_key"].encode(), None
        )
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        self.client_email = service_account["client_email"]
        self.key_id = service_account["private_key_id"]
        self.root_keys = root_keys or {"keys": []}
        self.classes: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.notify_times: dict[str, list[float]] = {}
        self._failures: deque[tuple[int, str, str]] = deque()
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- control -------------------------------------------------------------
    def start(self) -> GoogleStandIn:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # quick shutdown between tests
            daemon=True,
            name="google-stand-in",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def api_url(self) -> str:
        return self.base_url + "/walletobjects/v1"

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    @property
    def keys_url(self) -> str:
        return self.base_url + "/gp/m/issuer/keys"

    def fail(self, status: int, reason: str = "backendError", times: int = 1) -> None:
        """Answer the next `times` API calls with this error."""
        messages = {
            "quotaExceeded": "Quota exceeded for issuer when adding TEXT_AND_NOTIFY",
            "permissionDenied": "The caller does not have permission",
        }
        message = messages.get(reason, f"stand-in error {status}")
        with self._lock:
            self._failures.extend([(status, reason, message)] * times)

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def calls(self, method: str | None = None, path: str = "") -> list[Recorded]:
        """Recorded API calls, by method and a path fragment."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and path in r.path
            ]

    # -- WSGI ----------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/token" and request.method == "POST":
            response = self._token(request)
        elif request.path == "/gp/m/issuer/keys":
            response = _ok(self.root_keys)
        elif request.path.startswith(API_PREFIX):
            response = self._api(request)
        else:
            response = _error(404, "notFound", "No such endpoint")
        return response(environ, start_response)

    def _token(self, request: Request) -> Response:
        self.token_requests += 1
        if (
            request.form.get("grant_type")
            != "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ):
            return Response(json.dumps({"error": "unsupported_grant_type"}), 400)
        assertion = request.form.get("assertion", "")
        try:
            claims = google_jwt.decode(
                assertion, certs=self.public_pem, audience=TOKEN_AUDIENCE
            )
            header = google_jwt.decode_header(assertion)
        except Exception:  # noqa: BLE001  any failure is an invalid grant
            return Response(json.dumps({"error": "invalid_grant"}), 400)
        if (
            header.get("kid") != self.key_id
            or claims.get("iss") != self.client_email
            or SCOPE not in str(claims.get("scope", "")).split()
        ):
            return Response(json.dumps({"error": "invalid_grant"}), 400)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(token)
        body = {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        return Response(json.dumps(body), 200, content_type="application/json")

    def _api(self, request: Request) -> Response:
        body = request.get_json(silent=True) if request.data else None
        response = self._api_answer(request, body)
        with self._lock:
            self.requests.append(
                Recorded(request.method, request.path, body, response.status_code)
            )
        return response

    def _api_answer(self, request: Request, body: Any) -> Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        with self._lock:
            authorised = scheme == "Bearer" and token in self.tokens
            failure = (
                self._failures.popleft() if authorised and self._failures else None
            )
        if not authorised:
            return _error(401, "authError", "Request had invalid credentials")
        if failure is not None:
            return _error(*failure)
        parts = request.path[len(API_PREFIX) :].split("/")
        kind = parts[0]
        if kind not in KINDS:
            return _error(404, "notFound", "No such resource type")
        store = self.classes if kind == "loyaltyClass" else self.objects
        schema = KINDS[kind]
        if len(parts) == 1 and request.method == "POST":
            return self._insert(store, schema, body)
        resource_id = parts[1] if len(parts) > 1 else ""
        with self._lock:
            current = store.get(resource_id)
        if current is None:
            return _error(404, "resourceNotFound", f"{resource_id} not found")
        if len(parts) == 3 and parts[2] == "addMessage" and request.method == "POST":
            return self._add_message(current, body)
        if len(parts) != 2:
            return _error(404, "notFound", "No such endpoint")
        if request.method == "GET":
            return _ok(current)
        if request.method in ("PATCH", "PUT"):
            problems = google_schema.errors(
                schema, body, partial=request.method == "PATCH"
            )
            if problems or body.get("id", resource_id) != resource_id:
                return _error(400, "invalidResource", "; ".join(problems) or "id")
            body = {k: v for k, v in body.items() if k != "notifyPreference"}
            with self._lock:
                if request.method == "PUT":
                    current.clear()
                current.update(body)  # patch semantics: arrays are replaced
            return _ok(current)
        return _error(405, "methodNotAllowed", "Method not allowed")

    def _insert(
        self, store: dict[str, dict[str, Any]], schema: str, body: Any
    ) -> Response:
        problems = google_schema.errors(schema, body)
        if problems:
            return _error(400, "invalidResource", "; ".join(problems))
        if schema == "LoyaltyObject" and body["classId"] not in self.classes:
            return _error(404, "classNotFound", f"{body['classId']} not found")
        with self._lock:
            if body["id"] in store:
                return _error(409, "duplicate", f"{body['id']} already exists")
            stored = {k: v for k, v in body.items() if k != "notifyPreference"}
            store[body["id"]] = stored
        return _ok(stored)

    def _add_message(self, current: dict[str, Any], body: Any) -> Response:
        problems = google_schema.errors("AddMessageRequest", body)
        if problems or "message" not in body:
            return _error(400, "invalidResource", "; ".join(problems) or "message")
        message = body["message"]
        now = time.time()
        with self._lock:
            messages = current.setdefault("messages", [])
            if len(messages) >= 10:
                return _error(400, "invalidResource", "At most 10 messages")
            if message.get("messageType") == "TEXT_AND_NOTIFY":
                recent = [
                    t
                    for t in self.notify_times.get(current["id"], [])
                    if now - t < 86400
                ]
                if len(recent) >= 3:
                    return _error(
                        403,
                        "quotaExceeded",
                        f"Quota exceeded for issuer when adding TEXT_AND_NOTIFY "
                        f"message to object {current['id']}",
                    )
                self.notify_times[current["id"]] = [*recent, now]
            messages.append(message)
        return _ok({"resource": current})
