"""The cashier page `/pos` (Russian and English); it talks to the POS API from JS."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.i18n import pick_language
from app.pos.texts import TEXTS

bp = Blueprint("pos_page", __name__)


@bp.get("")
@bp.get("/")
def index() -> str:
    """The till: sign in with the store key, scan, confirm, refund."""
    language = pick_language()
    texts = {key: value.get(language) or value["ru"] for key, value in TEXTS.items()}
    return render_template("pos/index.html", lang=language, t=texts)
