"""The /admin sign-in: an API key (role marketer or admin), recorded server-side.

Signing in creates an `AdminSession` row; the cookie (Flask's signed cookie:
HttpOnly, SameSite=Lax, Secure over HTTPS) carries only a random session id
whose SHA-256 the row keeps. Each request finds the row and re-reads the key, so
signing out (the row is deleted) ends the session for a copied cookie too,
revoking the key ends every session it opened, and a session ends after
IDLE_TIMEOUT without requests or ABSOLUTE_TIMEOUT after sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from flask import Flask, Request, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy import delete, or_, select
from wtforms import ValidationError

from app.extensions import db
from app.models import AdminSession, ApiKey, Program
from app.models.base import utcnow
from app.services.errors import Forbidden, Unauthorized

ROLES = ("marketer", "admin")
SESSION_KEY = "admin_session"
IDLE_TIMEOUT = timedelta(hours=12)
ABSOLUTE_TIMEOUT = timedelta(days=7)
# last_seen_at is written at most this often (not a write per page).
SEEN_RESOLUTION = timedelta(minutes=1)
# The program an all-programs (admin) key is working on, chosen in the header.
PROGRAM_KEY = "admin_program_id"


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # Apple's web service never uses the cookie: a null session spares the
        # herd's requests the signer's set-up (docs/performance.md).
        if request.path.startswith("/wallet/"):
            return None
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        secure = bool(app.config.get("SESSION_COOKIE_SECURE"))
        try:
            return secure or request.is_secure
        except RuntimeError:  # no request (e.g. a CLI session)
            return secure


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(api_key: ApiKey) -> None:
    """A new server-side session for the key (the caller commits)."""
    _forget_expired()
    token = secrets.token_urlsafe(32)
    db.session.add(AdminSession(token_hash=_hash(token), api_key_id=api_key.id))
    session.clear()
    session[SESSION_KEY] = token
    session.permanent = False
    g.pop("admin_session_key", None)


def sign_out() -> None:
    """End this cookie's session wherever the cookie is (commits)."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        db.session.execute(
            delete(AdminSession).where(AdminSession.token_hash == _hash(token))
        )
        db.session.commit()
    session.clear()
    g.pop("admin_session_key", None)


def end_sessions(api_key: ApiKey) -> None:
    """End every session the key opened (on revocation; the caller commits)."""
    db.session.execute(
        delete(AdminSession).where(AdminSession.api_key_id == api_key.id)
    )


def _forget_expired() -> None:
    now = utcnow()
    db.session.execute(
        delete(AdminSession).where(
            or_(
                AdminSession.last_seen_at < now - IDLE_TIMEOUT,
                AdminSession.created_at < now - ABSOLUTE_TIMEOUT,
            )
        )
    )


def programs(api_key: ApiKey) -> list[Program]:
    """The programs the key may work on (all of them for an admin key)."""
    if api_key.program is not None:
        return [api_key.program]
    return list(db.session.scalars(select(Program).order_by(Program.id)))


def selected_program(api_key: ApiKey) -> Program | None:
    """The program the /admin pages (and the API called with the session) work
    on: the key's own, else the one chosen in the header, else the first one."""
    if api_key.program is not None:
        return api_key.program
    chosen = session.get(PROGRAM_KEY)
    program = db.session.get(Program, chosen) if isinstance(chosen, int) else None
    if program is None:
        program = db.session.scalar(select(Program).order_by(Program.id).limit(1))
    return program


def select_program(api_key: ApiKey, program_id: int) -> bool:
    """Choose the program an admin key works on; False if it may not."""
    program = db.session.get(Program, program_id)
    if program is None or (
        api_key.program_id is not None and api_key.program_id != program.id
    ):
        return False
    session[PROGRAM_KEY] = program.id
    return True


def session_key() -> ApiKey | None:
    """The signed-in, still valid marketer/admin key, else None."""
    if "admin_session_key" in g:
        return g.admin_session_key  # type: ignore[no-any-return]
    g.admin_session_key = api_key = _session_key()
    return api_key


def _session_key() -> ApiKey | None:
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        return None
    row = db.session.scalar(
        select(AdminSession).where(AdminSession.token_hash == _hash(token))
    )
    if row is None:
        return None
    now = utcnow()
    api_key = row.api_key
    if (
        now - row.last_seen_at >= IDLE_TIMEOUT
        or now - row.created_at >= ABSOLUTE_TIMEOUT
        or api_key.revoked
        or api_key.role not in ROLES
    ):
        db.session.delete(row)
        db.session.commit()
        return None
    if now - row.last_seen_at >= SEEN_RESOLUTION:
        row.last_seen_at = now
        db.session.commit()
    return api_key


def api_session_key(req: Request) -> ApiKey:
    """For the JSON API without a bearer key: the admin session, with the CSRF
    token in X-CSRFToken on anything but GET/HEAD (401/403 otherwise)."""
    api_key = session_key()
    if api_key is None:
        raise Unauthorized("unauthorized", "An API key is required (Bearer).")
    if req.method not in ("GET", "HEAD", "OPTIONS"):
        token: Any = req.headers.get("X-CSRFToken")
        try:
            validate_csrf(token)
        except (ValidationError, CSRFError):
            raise Forbidden("csrf", "The CSRF token is missing or wrong.") from None
    g.admin_session = True  # the program comes from the session (selected_program)
    return api_key
