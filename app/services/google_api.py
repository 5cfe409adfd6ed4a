"""A thin REST client for the Google Wallet API (walletobjects v1), on google-auth.

Service-account credentials sign a JWT assertion that the token endpoint trades for
an access token; `AuthorizedSession` adds it to each request and refreshes it on
401. Errors come out typed: `GoogleRetryableError` (403 quotaExceeded or
rateLimitExceeded, 429, 5xx, network) for the worker to retry with backoff, and
`GooglePermanentError` (permission, bad request) for a person to fix. 403 is
ambiguous, so it is decided on `errors[].reason`, never on the status alone.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
RETRYABLE_REASONS = {"quotaExceeded", "rateLimitExceeded", "userRateLimitExceeded"}
TIMEOUT = (5, 20)  # connect, read (seconds)

log = logging.getLogger(__name__)


class GoogleApiError(Exception):
    """A Google Wallet API call failed."""

    def __init__(
        self, message: str, status: int | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class GoogleRetryableError(GoogleApiError):
    """Try again later (with backoff): quota, rate limit, 5xx, network trouble."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status, reason)
        self.retry_after = retry_after


class GooglePermanentError(GoogleApiError):
    """Retrying will not help: bad request, permission, configuration."""


class GoogleNotFound(GooglePermanentError):
    """The class or object does not exist (404)."""


class GoogleConflict(GooglePermanentError):
    """Insert of an id that already exists (409)."""


@dataclass(frozen=True)
class ClientSettings:
    service_account_file: str
    api_url: str
    token_url: str


def _reason(response: requests.Response) -> tuple[str | None, str]:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return None, response.text[:200]
    if not isinstance(error, dict):
        return None, str(error)[:200]
    errors = error.get("errors") or [{}]
    reason = errors[0].get("reason") if isinstance(errors[0], dict) else None
    return reason, str(error.get("message", ""))[:500]


def raise_for_status(response: requests.Response, what: str) -> None:
    """Turn an error answer into the right typed exception."""
    status = response.status_code
    if status < 400:
        return
    reason, message = _reason(response)
    text = f"{what}: HTTP {status} {reason or ''} {message}".strip()
    if status == 404:
        raise GoogleNotFound(text, status, reason)
    if status == 409:
        raise GoogleConflict(text, status, reason)
    if status == 429 or status >= 500 or reason in RETRYABLE_REASONS:
        retry_after = response.headers.get("Retry-After", "")
        raise GoogleRetryableError(
            text,
            status,
            reason,
            (
                float(retry_after)
                if retry_after.isascii() and retry_after.isdigit()
                else None
            ),
        )
    if status in (401, 403):
        # The service account is not a user of the issuer (Pay & Wallet Console).
        raise GooglePermanentError(
            f"{text} (is the service account added to the issuer in the Google Pay "
            "& Wallet Console?)",
            status,
            reason,
        )
    raise GooglePermanentError(text, status, reason)


class GoogleWalletClient:
    """Loyalty class and object calls; one AuthorizedSession per thread."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        info = json.loads(Path(settings.service_account_file).read_text())
        # The token endpoint is configurable (a local stand-in in tests).
        info["token_uri"] = settings.token_url
        self.credentials = service_account.Credentials.from_service_account_info(
            info, scopes=[SCOPE]
        )
        self._local = threading.local()

    @property
    def signer(self) -> Any:
        return self.credentials.signer

    @property
    def service_account_email(self) -> str:
        return str(self.credentials.service_account_email)

    def _session(self) -> AuthorizedSession:
        session = getattr(self._local, "session", None)
        if session is None:
            # Credentials are per thread too: refreshing is not thread-safe.
            session = AuthorizedSession(self.credentials.with_scopes([SCOPE]))
            self._local.session = session
        return session

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One call; the decoded JSON answer, or a typed GoogleApiError."""
        url = self.settings.api_url.rstrip("/") + path
        what = f"{method} {path.split('/')[1] if '/' in path else path}"
        try:
            response = self._session().request(method, url, json=body, timeout=TIMEOUT)
        except auth_exceptions.RefreshError as error:
            retryable = getattr(error, "retryable", False)
            kind = GoogleRetryableError if retryable else GooglePermanentError
            raise kind(f"{what}: cannot get an access token: {error}") from error
        except (auth_exceptions.TransportError, requests.RequestException) as error:
            raise GoogleRetryableError(f"{what}: {type(error).__name__}") from error
        raise_for_status(response, what)
        return response.json() if response.content else {}

    # -- resources -----------------------------------------------------------
    @staticmethod
    def _path(kind: str, resource_id: str = "", action: str = "") -> str:
        path = f"/{kind}"
        if resource_id:
            path += "/" + quote(resource_id, safe="")
        if action:
            path += "/" + action
        return path

    def insert(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", self._path(kind), body)

    def get(self, kind: str, resource_id: str) -> dict[str, Any]:
        return self.request("GET", self._path(kind, resource_id))

    def patch(
        self, kind: str, resource_id: str, body: dict[str, Any], notify: bool = False
    ) -> dict[str, Any]:
        """PATCH (fields given are replaced, arrays whole); `notify` asks Google to
        notify the holder about allow-listed fields (balance, tier...)."""
        if notify:
            body = {**body, "notifyPreference": "NOTIFY_ON_UPDATE"}
        return self.request("PATCH", self._path(kind, resource_id), body)

    def upsert(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Insert, or PATCH when it exists already (409): idempotent."""
        try:
            return self.insert(kind, body)
        except GoogleConflict:
            return self.patch(kind, body["id"], body)

    def add_message(
        self, kind: str, resource_id: str, message: dict[str, Any]
    ) -> dict[str, Any]:
        return self.request(
            "POST", self._path(kind, resource_id, "addMessage"), {"message": message}
        )


_clients: dict[tuple[ClientSettings, float], GoogleWalletClient] = {}
_clients_lock = threading.Lock()


def client_for(settings: ClientSettings) -> GoogleWalletClient:
    """A client per settings, kept for the process (reloaded if the key changes)."""
    mtime = Path(settings.service_account_file).stat().st_mtime
    key = (settings, mtime)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = GoogleWalletClient(settings)
            _clients[key] = client
        return client
