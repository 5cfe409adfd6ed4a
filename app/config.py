"""Configuration from the environment (12-factor), with development defaults."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
DEV_CERTS = ROOT / "certs" / "dev"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def from_environment() -> dict[str, object]:
    """Read the settings PRODUCT.md names; anything unset gets a development default."""
    return {
        "SECRET_KEY": _env("SECRET_KEY", "dev-secret-change-me"),
        "SQLALCHEMY_DATABASE_URI": _env(
            "DATABASE_URL", f"sqlite:///{INSTANCE / 'wallet.sqlite3'}"
        ),
        "PUBLIC_BASE_URL": _env("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        "PASS_TYPE_IDENTIFIER": _env("PASS_TYPE_IDENTIFIER", "pass.dev.wallet.loyalty"),
        "TEAM_IDENTIFIER": _env("TEAM_IDENTIFIER", "DEVTEAM123"),
        "PASS_CERT_FILE": _env("PASS_CERT_FILE", str(DEV_CERTS / "pass.pem")),
        "PASS_KEY_FILE": _env("PASS_KEY_FILE", str(DEV_CERTS / "pass.key")),
        "PASS_KEY_PASSWORD": _env("PASS_KEY_PASSWORD"),
        "WWDR_CERT_FILE": _env("WWDR_CERT_FILE", str(DEV_CERTS / "wwdr.pem")),
        "APNS_URL": _env("APNS_URL", "https://api.push.apple.com"),
        "APNS_CA_FILE": _env("APNS_CA_FILE"),
        "APNS_AUTH": _env("APNS_AUTH", "certificate"),
        "APNS_KEY_FILE": _env("APNS_KEY_FILE"),
        "APNS_KEY_ID": _env("APNS_KEY_ID"),
        "GOOGLE_ISSUER_ID": _env("GOOGLE_ISSUER_ID"),
        "GOOGLE_SERVICE_ACCOUNT_FILE": _env("GOOGLE_SERVICE_ACCOUNT_FILE"),
        "GOOGLE_API_URL": _env(
            "GOOGLE_API_URL", "https://walletobjects.googleapis.com/walletobjects/v1"
        ),
        "GOOGLE_TOKEN_URL": _env(
            "GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token"
        ),
        "DEFAULT_PROGRAM": _env("DEFAULT_PROGRAM"),
        "DEV_CERTS_DIR": _env("DEV_CERTS_DIR", str(DEV_CERTS)),
        # Rate limits per client address (Flask-Limiter syntax). Phones behind a
        # carrier NAT share addresses, so the web service's limit is generous.
        "RATELIMIT_SIGNUP": _env("RATELIMIT_SIGNUP", "20 per minute;200 per hour"),
        "RATELIMIT_PAGES": _env("RATELIMIT_PAGES", "120 per minute"),
        "RATELIMIT_WALLET": _env("RATELIMIT_WALLET", "600 per minute"),
        # memory:// counts per process; several processes need a shared store
        # (e.g. redis://...; install the `redis` package).
        "RATELIMIT_STORAGE_URI": _env("RATELIMIT_STORAGE_URI", "memory://"),
        # How many reverse proxies in front set X-Forwarded-For/-Proto (0: none).
        "PROXY_COUNT": int(_env("PROXY_COUNT", "0") or 0),
    }


# Fixed settings that are not deployment choices.
STATIC_SETTINGS: dict[str, object] = {
    # Larger bodies get 413; the biggest legitimate one is a device log batch.
    "MAX_CONTENT_LENGTH": 256 * 1024,
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "JSON_SORT_KEYS": False,
    "WTF_CSRF_TIME_LIMIT": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Consent text version shown on /join and recorded with each sign-up.
    "CONSENT_VERSION": "2026-11",
    # Flask-Limiter's headers would put Retry-After on every response;
    # app.errors sets it on 429 answers only.
    "RATELIMIT_HEADERS_ENABLED": False,
}
