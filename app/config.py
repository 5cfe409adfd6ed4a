"""Configuration from the environment (12-factor), with development defaults."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
DEV_CERTS = ROOT / "certs" / "dev"
# A placeholder issuer id for `make run` (real ones come from the Pay & Wallet Console).
DEV_GOOGLE_ISSUER_ID = "3388000000000000000"
# The development secret; production (https PUBLIC_BASE_URL) refuses it.
DEV_SECRET_KEY = "dev-secret-change-me"  # noqa: S105 - refused in production
MIN_SECRET_KEY_LENGTH = 32


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
    # Never in production: a development key left on a server must not turn on.
    production = is_production({"PUBLIC_BASE_URL": _env("PUBLIC_BASE_URL")})
    if issuer is None and key_file is None and dev_key.is_file() and not production:
        return DEV_GOOGLE_ISSUER_ID, str(dev_key), _flag("GOOGLE_DRY_RUN", "1")
    return issuer, key_file, _flag("GOOGLE_DRY_RUN", "0")


def from_environment() -> dict[str, object]:
    """Read the settings PRODUCT.md names; anything unset gets a development default."""
    google_issuer, google_key_file, google_dry_run = _google_defaults()
    return {
        "SECRET_KEY": _env("SECRET_KEY", DEV_SECRET_KEY),
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
        "APNS_CONNECTIONS": int(_env("APNS_CONNECTIONS", "2") or 2),
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
        # Devices pushed per second at most (0: unlimited), so the herd of pass
        # downloads that follows stays within what the web tier serves.
        "PUSH_RATE_LIMIT": _env("PUSH_RATE_LIMIT"),
        # Paced, pushes go out in steps of this many seconds' worth (0.1).
        "PUSH_STEP_SECONDS": _env("PUSH_STEP_SECONDS"),
        # ... and signs the passes of this many steps together (5).
        "PUSH_SIGN_STEPS": _env("PUSH_SIGN_STEPS"),
        # Paced pushes yield to the tills: at this many purchases/s the herd
        # slows to PUSH_TILLS_FLOOR (0.05) of PUSH_RATE_LIMIT (0: off).
        "PUSH_TILLS_FULL": _env("PUSH_TILLS_FULL"),
        "PUSH_TILLS_FLOOR": _env("PUSH_TILLS_FLOOR"),
        # Delivery processes of `flask worker` (PostgreSQL; one core each).
        "PUSH_WORKER_PROCESSES": int(_env("PUSH_WORKER_PROCESSES", "1") or 1),
        # CPU niceness the worker adds to itself at start (signing and pushing a
        # campaign is background work; the tills in gunicorn come first).
        "WORKER_NICE": int(_env("WORKER_NICE", "10") or 0),
        # The worker signs a batch's passes into the shared cache before pushing.
        "PASS_SIGN_AHEAD": _flag("PASS_SIGN_AHEAD", "1"),
        # How often the worker runs the scheduled jobs (campaigns, automations).
        "SCHEDULER_SECONDS": _env("SCHEDULER_SECONDS", "30"),
        # Programs with at least this many members read their KPI overview from
        # a snapshot the scheduler refreshes every KPI_REFRESH_SECONDS (computing
        # it reads the year's purchases: ~10 s at 1M members); smaller ones live.
        "KPI_SNAPSHOT_MEMBERS": int(_env("KPI_SNAPSHOT_MEMBERS", "50000") or 50000),
        "KPI_REFRESH_SECONDS": int(_env("KPI_REFRESH_SECONDS", "600") or 600),
        # The same large programs' per-member year totals (365-day segment
        # rules; services.year_totals) are retaken this often.
        "YEAR_TOTALS_REFRESH_SECONDS": int(
            _env("YEAR_TOTALS_REFRESH_SECONDS", "86400") or 86400
        ),
        # Members per campaign batch (one transaction each); default campaigns.BATCH.
        "CAMPAIGN_BATCH_SIZE": _env("CAMPAIGN_BATCH_SIZE"),
        # While the tills sell at least TILLS_BUSY purchases/s (0: never), the
        # scheduler's jobs give way: a campaign sends CAMPAIGN_BUSY_BATCH_SIZE
        # members per batch and rests twice a batch's time after each
        # (campaigns.batch_size); the pass_hashes job waits.
        "TILLS_BUSY": float(_env("TILLS_BUSY", "20") or 0),
        "CAMPAIGN_BUSY_BATCH_SIZE": int(_env("CAMPAIGN_BUSY_BATCH_SIZE", "200") or 200),
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
        # -- Card-link and sign-up code messages (app.services.outbound) --------
        # SMS provider: "smsru" (SMS.ru's HTTP API) or "console" (development:
        # the worker logs the text, which holds the card link, instead of sending).
        "SMS_PROVIDER": _env("SMS_PROVIDER", "console"),
        "SMS_API_URL": _env("SMS_API_URL", "https://sms.ru"),
        "SMS_API_ID": _env("SMS_API_ID"),
        # E-mail: smtp://user:pass@host:587 (STARTTLS), smtps://...:465 (TLS);
        # unset: no e-mail. SMTP_CA_FILE: extra trust for a local server.
        "SMTP_URL": _env("SMTP_URL"),
        "SMTP_CA_FILE": _env("SMTP_CA_FILE"),
        "MAIL_FROM": _env("MAIL_FROM", "loyalty@localhost"),
        # Card-link (and sign-up code) messages per phone and per e-mail address
        # per hour; more are refused silently (the page looks the same).
        "MESSAGES_PER_HOUR": int(_env("MESSAGES_PER_HOUR", "3") or 3),
        # «Потеряли карту?» form submissions per client address.
        "RATELIMIT_LOST_CARD": _env("RATELIMIT_LOST_CARD", "5 per minute;30 per hour"),
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


# -- production checks -------------------------------------------------------------


class UnsafeSettings(Exception):  # noqa: N818 - reads as "refused: unsafe settings"
    """Production settings the app refuses to start with (one plain line)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        return "refusing to start (PUBLIC_BASE_URL is https): " + "; ".join(
            self.problems
        )


def is_production(config: Mapping[str, Any]) -> bool:
    """An https PUBLIC_BASE_URL means production (`make run` serves http)."""
    url = str(config.get("PUBLIC_BASE_URL") or "").strip()
    return urlsplit(url).scheme.lower() == "https"


def production_problems(config: Mapping[str, Any]) -> list[str]:
    """What production (https PUBLIC_BASE_URL) must not run with, in plain words
    naming the setting and never a secret's value; [] when not production."""
    if not is_production(config):
        return []
    problems: list[str] = []
    secret = config.get("SECRET_KEY")
    if not secret or secret == DEV_SECRET_KEY:
        problems.append(
            "SECRET_KEY is not set (it keys the barcode MACs and sessions); "
            f"set a random value of at least {MIN_SECRET_KEY_LENGTH} characters"
        )
    elif len(str(secret)) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters; "
            "set a long random value"
        )
    for name in ("PASS_CERT_FILE", "WWDR_CERT_FILE"):
        if development_certificate_file(config.get(name), config):
            problems.append(f"{name} is a development certificate (dev-certs)")
    if config.get("APNS_AUTH") == "token" and _in_development_directory(
        config.get("APNS_KEY_FILE"), config
    ):
        problems.append("APNS_KEY_FILE is the development APNs key (dev-certs)")
    if config.get("GOOGLE_ISSUER_ID") == DEV_GOOGLE_ISSUER_ID:
        problems.append("GOOGLE_ISSUER_ID is the development placeholder")
    if _development_google_key(config.get("GOOGLE_SERVICE_ACCOUNT_FILE"), config):
        problems.append(
            "GOOGLE_SERVICE_ACCOUNT_FILE is the development Google key (dev-certs)"
        )
    if config.get("SMS_PROVIDER", "console") == "console":
        # The console provider writes card links (secrets) to the worker's log.
        problems.append(
            "SMS_PROVIDER is console (development: card links go to the log); "
            "set smsru and SMS_API_ID"
        )
    # Apple ignores a pass's web service unless it is https.
    web_service = str(config.get("PUBLIC_BASE_URL") or "").strip()
    if not web_service.startswith("https://"):
        problems.append("PUBLIC_BASE_URL must start with https:// (webServiceURL)")
    return problems


def _in_development_directory(path_value: object, config: Mapping[str, Any]) -> bool:
    """A file `dev-certs` wrote: in DEV_CERTS_DIR, or beside a development WWDR."""
    if not path_value:
        return False
    path = Path(str(path_value)).resolve()
    dev_dir = Path(str(config.get("DEV_CERTS_DIR") or DEV_CERTS)).resolve()
    if path.parent == dev_dir:
        return True
    return development_certificate_file(path.parent / "wwdr.pem", config)


def development_certificate_file(path_value: object, config: Mapping[str, Any]) -> bool:
    """Whether the file holds a certificate `dev-certs` made (by its names, so a
    copy elsewhere is caught too, and a real certificate anywhere is not)."""
    if not path_value:
        return False
    path = Path(str(path_value))
    try:
        pem = path.read_bytes()
    except OSError:
        return False  # a missing file is check-certs' (and /readyz's) finding
    from cryptography import x509

    import passes

    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        return False
    return any(passes.is_development_certificate(c) for c in certificates)


def _development_google_key(path_value: object, config: Mapping[str, Any]) -> bool:
    if not path_value:
        return False
    if _in_development_directory(path_value, config):
        return True
    try:
        key = json.loads(Path(str(path_value)).read_text())
    except (OSError, ValueError):
        return False
    import passes

    return passes.is_development_service_account(key)
