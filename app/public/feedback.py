"""The one-page rating form (`/f/<token>`): 0-10 and a comment, in the
member's language; a bad or expired link gets a friendly page."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.extensions import db
from app.i18n import datetime_text, money, pick_language
from app.models.feedback import WINBACK
from app.public.views import bp
from app.services import feedback
from app.services.errors import Conflict, DomainError, Gone, Invalid


def _bad_link(expired: bool) -> tuple[str, int]:
    language = pick_language()
    return render_template(
        "public/feedback_gone.html", lang=language, expired=expired
    ), (410 if expired else 404)


def _render(
    current: feedback.Page, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    language = pick_language(request.args.get("lang") or current.language)
    zone = ZoneInfo(current.program.timezone)
    row = current.feedback
    bought = (
        datetime_text(
            current.purchased_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone),
            language,
        )
        if current.purchased_at is not None
        else ""
    )
    return render_template(
        "public/feedback.html",
        lang=language,
        program=current.program,
        store=current.store,
        bought=bought,
        amount=(
            money(current.amount_kopecks / 100, language)
            if current.amount_kopecks is not None
            else ""
        ),
        winback=row.kind == WINBACK,
        score=row.score,
        comment=row.comment,
        answered=row.answered_at is not None,
        editable=current.editable,
        thanks=request.args.get("thanks") == "1",
        error=error,
        token=row.token,
    ), status


def _open(token: str) -> feedback.Page | tuple[str, int]:
    """The link's page, or the friendly page for an unknown (404) or expired (410)
    link."""
    try:
        return feedback.page(token)
    except Gone:
        return _bad_link(True)
    except DomainError:
        return _bad_link(False)


@bp.get("/f/<token>")
def feedback_page(token: str) -> BaseResponse | tuple[str, int]:
    current = _open(token)
    if not isinstance(current, feedback.Page):
        return current
    return _render(current)


@bp.post("/f/<token>")
def feedback_answer(token: str) -> BaseResponse | tuple[str, int]:
    """Save the answer once (a second submit within a short time updates it)."""
    current = _open(token)
    if not isinstance(current, feedback.Page):
        return current
    score = request.form.get("score", "")
    comment = request.form.get("comment", "")
    try:
        feedback.answer(
            token,
            int(score) if score.isascii() and score.isdigit() else score,
            comment,
        )
    except Conflict:
        db.session.rollback()
        return _render(feedback.page(token), "already", 409)
    except Invalid as error:
        db.session.rollback()
        which = "comment" if error.code == "invalid_comment" else "score"
        return _render(current, which, 422)
    db.session.commit()
    values: dict[str, Any] = {"token": token, "thanks": 1}
    if request.args.get("lang"):
        values["lang"] = request.args["lang"]
    return redirect(url_for("public.feedback_page", **values))


def expired_form() -> tuple[str, int]:
    """The form's CSRF token expired: the form again, nothing saved."""
    token = (request.view_args or {}).get("token", "")
    current = _open(token)
    if not isinstance(current, feedback.Page):
        return current
    return _render(current, "csrf", 400)
