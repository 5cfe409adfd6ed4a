"""The cashier page `/pos` (Russian and English); it talks to the POS API from JS."""

from __future__ import annotations

from flask import Blueprint, Response, make_response, render_template

from app.i18n import catalogue, page_texts, pick_language
from app.pos.texts import TEXTS

bp = Blueprint("pos_page", __name__)


@bp.get("")
@bp.get("/")
def index() -> Response:
    """The till: sign in with the store key, scan, confirm, refund."""
    language = pick_language()
    response = make_response(
        render_template(
            "pos/index.html",
            lang=language,
            t=catalogue(TEXTS, language),
            i18n=page_texts(language, TEXTS),
        )
    )
    # The store key sits in this page's sessionStorage: allow our own scripts only.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
