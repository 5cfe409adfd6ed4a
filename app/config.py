"""Configuration from the environment (12-factor), with development defaults."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
DEV_CERTS = ROOT / "certs" / "dev"
# A placeholder issuer id for `make run` (real ones come from the Pay & Wallet Console).
DEV_GOOGLE_ISSUER_ID = "3388000000000000000"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _flag(name: str, default: str) -> bool:
    return (_env(name, default) or "").lower() in ("1", "true", "yes")


def _google_defaults() -> tuple[str | None, str | None, bool]:
    """(issuer id, service-account file, dry run) for Google Wallet.

    Configured: both variables set, real API calls. Neither set but `dev-certs` has
    written a development key (`make run`): that key with a placeholder issuer, and
    a dry run (no API calls, since Google rejects the key) so the Save link can be
    seen locally. Otherwise Google Wallet is off and its button hidden.
    """
    issuer = _env("GOOGLE_ISSUER_ID")
    key_file = _env("GOOGLE_SERVICE_ACCOUNT_FILE")
    dev_key = Path(_env("DEV_CERTS_DIR") or DEV_CERTS) / "google-service-account.json"
    if issuer is None and key_file is None and dev_key.is_file():
        return DEV_GOOGLE_ISSUER_ID, str(dev_key), _flag("GOOGLE_DRY_RUN", "1")
    return issuer, key_file, _flag("GOOGLE_DRY_RUN", "0")


def from_environment() -> dict[str, object]:
    """Read the settings PRODUCT.md names; anything unset gets a development default."""
    google_issuer, google_key_file, google_dry_run = _google_defaults()
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
        # `check-certs` warns this many days before a certificate (pass, WWDR,
        # APNS_CA_FILE) expires.
        "CERT_WARNING_DAYS": int(_env("CERT_WARNING_DAYS", "30") or 30),
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
        "PUSH_RETRY_CAP_SECONDS": _env("PUSH_RETRY_CAP_SECONDS"),
        # Retried deliveries fail only after PUSH_MAX_ATTEMPTS and this long.
        "PUSH_GIVE_UP_SECONDS": _env("PUSH_GIVE_UP_SECONDS"),
        "PUSH_POLL_SECONDS": _env("PUSH_POLL_SECONDS"),
        # How often the worker runs the scheduled jobs (campaigns, automations).
        "SCHEDULER_SECONDS": _env("SCHEDULER_SECONDS", "30"),
        # Members per campaign batch (one transaction each); default campaigns.BATCH.
        "CAMPAIGN_BATCH_SIZE": _env("CAMPAIGN_BATCH_SIZE"),
        # Runs kept per automation and program in its history (at least 10, the
        # dashboard's); older ones are deleted as new ones are recorded.
        "AUTOMATION_RUN_KEEP": int(_env("AUTOMATION_RUN_KEEP", "100") or 100),
        "GOOGLE_ISSUER_ID": google_issuer,
        "GOOGLE_SERVICE_ACCOUNT_FILE": google_key_file,
        "GOOGLE_DRY_RUN": google_dry_run,
        "GOOGLE_API_URL": _env(
            "GOOGLE_API_URL", "https://walletobjects.googleapis.com/walletobjects/v1"
        ),
        "GOOGLE_TOKEN_URL": _env(
            "GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token"
        ),
        # Save/delete callbacks: Google's root signing keys (a URL, or a local file
        # of the same JSON shape) and the sender id in the signed bytes.
        "GOOGLE_CALLBACK_KEYS_URL": _env(
            "GOOGLE_CALLBACK_KEYS_URL", "https://pay.google.com/gp/m/issuer/keys"
        ),
        "GOOGLE_CALLBACK_KEYS_FILE": _env("GOOGLE_CALLBACK_KEYS_FILE"),
        "GOOGLE_CALLBACK_SENDER_ID": _env(
            "GOOGLE_CALLBACK_SENDER_ID", "GooglePayPasses"
        ),
        "DEFAULT_PROGRAM": _env("DEFAULT_PROGRAM"),
        "DEV_CERTS_DIR": _env("DEV_CERTS_DIR", str(DEV_CERTS)),
        # Rate limits per client address (Flask-Limiter syntax).
        "RATELIMIT_SIGNUP": _env("RATELIMIT_SIGNUP", "20 per minute;200 per hour"),
        "RATELIMIT_PAGES": _env("RATELIMIT_PAGES", "120 per minute"),
        # The wallet service counts per device (or pass): phones behind a carrier
        # NAT share an address. The per-address limit is a generous backstop
        # against made-up device identifiers.
        "RATELIMIT_WALLET": _env("RATELIMIT_WALLET", "120 per minute"),
        "RATELIMIT_WALLET_ADDRESS": _env("RATELIMIT_WALLET_ADDRESS", "3000 per minute"),
        # Device logs (unauthenticated, stored): per address.
        "RATELIMIT_WALLET_LOG": _env(
            "RATELIMIT_WALLET_LOG", "10 per minute;100 per day"
        ),
        # Google's save/delete callbacks, per address (Google's senders).
        "RATELIMIT_GOOGLE_CALLBACKS": _env(
            "RATELIMIT_GOOGLE_CALLBACKS", "600 per minute"
        ),
        # Sign-in attempts on /admin (API keys) per address.
        "RATELIMIT_ADMIN_LOGIN": _env("RATELIMIT_ADMIN_LOGIN", "5 per minute"),
        # memory:// counts per process; several processes (gunicorn workers,
        # machines) need a shared store: redis://host:6379/0.
        "RATELIMIT_STORAGE_URI": _env("RATELIMIT_STORAGE_URI", "memory://"),
        # Bearer token /metrics requires; unset: open (keep it off the internet).
        "METRICS_TOKEN": _env("METRICS_TOKEN"),
        # How many reverse proxies in front set X-Forwarded-For/-Proto (0: none).
        "PROXY_COUNT": int(_env("PROXY_COUNT", "0") or 0),
    }


# Fixed settings that are not deployment choices.
STATIC_SETTINGS: dict[str, object] = {
    # Larger bodies get 413; the biggest legitimate one is a device log batch.
    "MAX_CONTENT_LENGTH": 256 * 1024,
    # No pre-ping (a round trip on every checkout, ~0.8 ms of a POS purchase): a
    # connection the server dropped fails one request with a 503 + Retry-After
    # (app.errors) and SQLAlchemy then replaces the pool's connections.
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_recycle": 1800},
    "JSON_SORT_KEYS": False,
    "WTF_CSRF_TIME_LIMIT": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Consent text version shown on /join and recorded with each sign-up.
    "CONSENT_VERSION": "2026-11",
    # Flask-Limiter's headers would put Retry-After on every response;
    # app.errors sets it on 429 answers only.
    "RATELIMIT_HEADERS_ENABLED": False,
    # A shared limit store (Redis) that is down must not take the service down:
    # limits count in each process's memory until it is back.
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    "RATELIMIT_SWALLOW_ERRORS": True,
}
