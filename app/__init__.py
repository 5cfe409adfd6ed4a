"""The Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app import config
from app.admin.session import SessionInterface
from app.database import register_write_lock
from app.extensions import csrf, db, migrate
from app.ids import register_id_bounds
from app.ops.metrics import register_metrics
from app.security import register_security


def create_app(
    overrides: Mapping[str, Any] | None = None, *, refuse_unsafe: bool = True
) -> Flask:
    """Build the app: defaults, then the environment, then `overrides` (tests).

    In production (https PUBLIC_BASE_URL) unsafe settings raise
    `config.UnsafeSettings` (wsgi.py turns it into one line and an exit), unless
    `refuse_unsafe` is False (`check-certs`, which reports them) or TESTING is
    set, which only code can do (`overrides`; the environment cannot).
    """
    app = Flask(
        __name__,
        template_folder=str(config.ROOT / "templates"),
        static_folder=str(config.ROOT / "static"),
        instance_path=str(config.INSTANCE),
    )
    configure(app, overrides)
    if refuse_unsafe and not app.config.get("TESTING"):
        problems = config.production_problems(app.config)
        if problems:
            raise config.UnsafeSettings(problems)
    app.session_interface = SessionInterface()
    register_id_bounds(app)
    register_extensions(app)
    register_security(app)
    register_metrics(app)
    register_write_lock(app)
    register_blueprints(app)
    register_cli(app)
    return app


def configure(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    app.config.update(config.STATIC_SETTINGS)
    app.config.update(config.from_environment())
    if overrides:
        app.config.update(overrides)
    config.INSTANCE.mkdir(exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Clients that join webServiceURL with "/v1" can send "/wallet//v1/...".
    app.wsgi_app = _CollapseWalletSlashes(app.wsgi_app)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    from app import database  # noqa: F401  (engine event listeners)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"))
    csrf.init_app(app)
    from app import i18n

    i18n.init_app(app)


def register_blueprints(app: Flask) -> None:
    from app.admin import bp as admin_bp
    from app.api import docs as api_docs
    from app.api.integration import bp as integration_api_bp
    from app.api.marketer import bp as marketer_api_bp
    from app.api.marketer_catalog import bp as marketer_catalog_bp
    from app.api.marketer_feedback import bp as marketer_feedback_bp
    from app.api.marketer_memberships import bp as marketer_memberships_bp
    from app.api.marketer_offers import bp as marketer_offers_bp
    from app.api.marketer_settings import bp as settings_api_bp
    from app.api.marketer_stamps import bp as marketer_stamps_bp
    from app.errors import register_error_handlers
    from app.google import bp as google_bp
    from app.ops import bp as ops_bp
    from app.pos import api_bp as pos_api_bp
    from app.pos import page_bp as pos_page_bp
    from app.public import bp as public_bp
    from app.wallet import bp as wallet_bp

    csrf.exempt(wallet_bp)
    app.register_blueprint(wallet_bp, url_prefix="/wallet")
    app.register_blueprint(public_bp)
    app.register_blueprint(ops_bp)
    # Google signs its callbacks; there is no browser session to forge.
    csrf.exempt(google_bp)
    app.register_blueprint(google_bp, url_prefix="/google")
    # Bearer keys, not cookies: no CSRF token to check.
    csrf.exempt(pos_api_bp)
    app.register_blueprint(pos_api_bp, url_prefix="/api/v1/pos")
    # Bearer keys, or the admin session whose CSRF header the blueprint checks.
    csrf.exempt(marketer_api_bp)
    app.register_blueprint(marketer_api_bp, url_prefix="/api/v1")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(pos_page_bp, url_prefix="/pos")
    api_docs.init_app(app)
    app.register_blueprint(api_docs.bp, url_prefix="/api")
    csrf.exempt(marketer_catalog_bp)
    app.register_blueprint(marketer_catalog_bp, url_prefix="/api/v1")
    csrf.exempt(marketer_offers_bp)
    app.register_blueprint(marketer_offers_bp, url_prefix="/api/v1")
    csrf.exempt(marketer_stamps_bp)
    app.register_blueprint(marketer_stamps_bp, url_prefix="/api/v1")
    csrf.exempt(marketer_memberships_bp)
    app.register_blueprint(marketer_memberships_bp, url_prefix="/api/v1")
    csrf.exempt(marketer_feedback_bp)
    app.register_blueprint(marketer_feedback_bp, url_prefix="/api/v1")
    # Bearer keys, or the admin session whose CSRF header the blueprint checks.
    csrf.exempt(settings_api_bp)
    app.register_blueprint(settings_api_bp, url_prefix="/api/v1")
    csrf.exempt(integration_api_bp)
    app.register_blueprint(integration_api_bp, url_prefix="/api/v1")
    register_error_handlers(app)


def register_cli(app: Flask) -> None:
    from app.cli import commands

    for command in commands:
        app.cli.add_command(command)


class _CollapseWalletSlashes:
    """WSGI middleware: '/wallet//v1/...' -> '/wallet/v1/...'."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/wallet//"):
            environ["PATH_INFO"] = "/wallet/" + path[len("/wallet/") :].lstrip("/")
        return self.wsgi_app(environ, start_response)
