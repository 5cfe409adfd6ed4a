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
        "APNS_KEY_FILE": _env("APNS_KEY_FILE", str(DEV_CERTS / "apns.p8")),
        "APNS_KEY_ID": _env("APNS_KEY_ID"),
        # HTTP/2 connections per worker and streams in flight on each.
        "APNS_CONNECTIONS": int(_env("APNS_CONNECTIONS", "1") or 1),
        "APNS_STREAMS": int(_env("APNS_STREAMS", "250") or 250),
        # WalletPasses push relay for Android .pkpass apps (AndroidPass devices).
        "WALLETPASSES_PUSH_URL": _env(
            "WALLETPASSES_PUSH_URL", "https://walletpasses.appspot.com/api/v1/push"
        ),
        "WALLETPASSES_API_KEY": _env("WALLETPASSES_API_KEY"),
        # Worker tuning (app.push.worker.Settings has the defaults).
        "PUSH_BATCH_SIZE": _env("PUSH_BATCH_SIZE"),
        "PUSH_LEASE_SECONDS": _env("PUSH_LEASE_SECONDS"),
        "PUSH_MAX_ATTEMPTS": _env("PUSH_MAX_ATTEMPTS"),
        "PUSH_RETRY_BASE_SECONDS": _env("PUSH_RETRY_BASE_SECONDS"),
        "PUSH_POLL_SECONDS": _env("PUSH_POLL_SECONDS"),
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
}
