"""Cross-cutting protections: proxy handling, rate limits, security headers, and a
request log that never contains card tokens, serials or query strings."""

from __future__ import annotations

import logging
import time
from functools import lru_cache

from flask import Flask, Response, abort, current_app, g, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from werkzeug.exceptions import TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

from app.bodies import register_body_guard
from app.extensions import limiter

log = logging.getLogger("app.requests")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # blob: the settings page previews a chosen image from an object URL
        # (only the page's own scripts can make one).
        "img-src 'self' data: blob:",
        # Brand colours are set as inline CSS variables on the card and form.
        "style-src 'self' 'unsafe-inline'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)


def signup_limit() -> str:
    return str(current_app.config["RATELIMIT_SIGNUP"])


def pages_limit() -> str:
    return str(current_app.config["RATELIMIT_PAGES"])


def wallet_limit() -> str:
    """Per device (or pass): phones behind a carrier NAT share an address."""
    return str(current_app.config["RATELIMIT_WALLET"])


def wallet_address_limit() -> str:
    """Per address, a backstop for made-up device identifiers."""
    return str(current_app.config["RATELIMIT_WALLET_ADDRESS"])


def wallet_log_limit() -> str:
    return str(current_app.config["RATELIMIT_WALLET_LOG"])


def google_callback_limit() -> str:
    return str(current_app.config["RATELIMIT_GOOGLE_CALLBACKS"])


def wallet_client_key() -> str:
    """Whom a wallet-service request counts against: the device library identifier
    in its path, else the pass (type and serial), else the client address."""
    args = request.view_args or {}
    device = args.get("device_id")
    if device:
        return f"device:{str(device)[:128]}"
    serial = args.get("serial")
    if serial:
        return f"pass:{str(args.get('pass_type', ''))[:128]}/{str(serial)[:64]}"
    return get_remote_address()


# The device herd's two GETs (after a campaign, two per phone): their limits are
# checked by `check_herd_limits` instead of flask-limiter's generic path, which
# re-resolves every limit, exemption and scope per request (~10 % of such a
# GET's CPU, docs/performance.md "herdfast"). The same two limits, the same
# storage, the same 429.
HERD_ENDPOINTS = frozenset({"wallet.list_changed_serials", "wallet.latest_pass"})
# While the shared store fails, the herd's counts go to the app's memory (as
# flask-limiter's in-memory fallback does), and the store is tried again after
# this many seconds.
_STORE_RETRY_SECONDS = 5.0


class _Fallback:
    """Per app: the in-memory counts used while the shared store is down."""

    def __init__(self) -> None:
        self.strategy = FixedWindowRateLimiter(MemoryStorage())
        self.down_until = 0.0


def is_herd_get() -> bool:
    """flask-limiter's request filter: these requests count in `check_herd_limits`."""
    return request.endpoint in HERD_ENDPOINTS


limiter.request_filter(is_herd_get)


@lru_cache(maxsize=64)
def _items(text: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(text))


def _strategy(fallback: _Fallback) -> RateLimiter:
    if time.monotonic() < fallback.down_until:
        return fallback.strategy
    return limiter.limiter


def check_herd_limits() -> None:
    """Count a herd GET against its device's (or pass's) allowance and its
    address's, the blueprint's two limits; 429 with Retry-After past either."""
    if not limiter.enabled:
        return
    config = current_app.config
    checks = (
        ("wallet", wallet_client_key(), config["RATELIMIT_WALLET"]),
        ("wallet-address", get_remote_address(), config["RATELIMIT_WALLET_ADDRESS"]),
    )
    fallback = current_app.extensions["herd_limits"]
    strategy = _strategy(fallback)
    for scope, key, text in checks:
        for item in _items(str(text)):
            try:
                allowed = strategy.hit(item, "herd", scope, key)
            except Exception as error:  # noqa: BLE001 - the store is down: count here
                log.warning("rate-limit store failed: %s", type(error).__name__)
                fallback.down_until = time.monotonic() + _STORE_RETRY_SECONDS
                strategy = fallback.strategy
                allowed = strategy.hit(item, "herd", scope, key)
            if not allowed:
                reset = strategy.get_window_stats(item, "herd", scope, key).reset_time
                log.info("rate limit %s exceeded (%s)", item, scope)
                raise TooManyRequests(
                    description=str(item),
                    retry_after=max(1, int(reset - time.time()) + 1),
                )


def register_security(app: Flask) -> None:
    proxies = app.config["PROXY_COUNT"]
    if proxies:
        # Only then is X-Forwarded-For trusted for the client address (rate limits).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    limiter.init_app(app)
    app.extensions["herd_limits"] = _Fallback()
    # After the limiter's check: a refused client's body is not even read.
    register_body_guard(app)

    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()
        if "\x00" in request.path:
            # No route has NUL in it (it arrives as %00); PostgreSQL would refuse
            # it in a lookup. Found by the API fuzzer.
            abort(404)

    @app.after_request
    def secure_and_log(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        # Card pages carry their token in the URL: never send it to other sites.
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("Permissions-Policy", "camera=(self), geolocation=()")
        if request.is_secure:
            headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        if request.path.startswith("/c/"):
            # Personal data: never kept by shared caches or the browser's history.
            headers["Cache-Control"] = "private, no-store"
        started = g.get("request_started")
        # A campaign's herd is two wallet GETs per phone: millions of identical
        # lines at INFO, and the log lock and write were ~10 % of a web
        # process's CPU in a herd (docs/performance.md). Their counts and
        # durations are in the metrics; failures stay at INFO.
        herd = (
            request.blueprint == "wallet"
            and request.method == "GET"
            and response.status_code < 400
        )
        log.log(
            logging.DEBUG if herd else logging.INFO,
            "%s %s %s %.1fms",
            request.method,
            request.url_rule.rule if request.url_rule else "(no route)",
            response.status_code,
            (time.perf_counter() - started) * 1000 if started else -1,
        )
        return response
