"""/admin/feedback («Отзывы»): the feedback settings, NPS per store and week,
the response rate and the queue of low scores with one-click recovery (the
same services and stats the API uses)."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask import flash, g, redirect, request, url_for
from werkzeug.wrappers import Response

from app.admin.forms import whole_or_text
from app.admin.guards import with_program
from app.admin.texts import texts
from app.admin.views import _language, _render, bp, signed_in
from app.extensions import db
from app.i18n import date_text, datetime_text, number
from app.models import Member, Program
from app.services import checks, feedback, offers
from app.services.errors import DomainError


def _shown(value: float | None, language: str) -> str:
    return "—" if value is None else number(value, language)


def _page(program: Program, status: int = 200, **context: Any) -> Response:
    language = _language()
    zone = ZoneInfo(program.timezone)
    stats = feedback.stats(program)
    names = feedback.store_names(program.id)
    queue = feedback.queue(program.id)
    cards = dict(
        db.session.execute(
            db.select(Member.id, Member.card_number).where(
                Member.id.in_([row.member_id for row in queue] or [0])
            )
        )
        .tuples()
        .all()
    )
    items = [
        {
            "id": row.id,
            "score": row.score,
            "comment": row.comment,
            "store": names.get(row.store_id or 0, ""),
            "winback": row.kind == "winback",
            # The card number's last digits: enough to find the member.
            "card": "…" + cards.get(row.member_id, "")[-4:],
            "when": datetime_text(
                row.answered_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone),
                language,
            )
            if row.answered_at
            else "",
        }
        for row in queue
    ]
    response = _render(
        "admin/feedback.html",
        settings=feedback.view(program),
        stats=stats,
        shown={
            "asked": number(stats["asked"], language),
            "answered": number(stats["answered"], language),
            "response_rate": _shown(stats["response_rate"], language),
            "nps": _shown(stats["nps"], language),
            "median": _shown(stats["median_resolve_hours"], language),
        },
        stores=[
            {**s, "nps": _shown(s["nps"], language)} for s in stats["nps_by_store"]
        ],
        weeks=[
            {
                **w,
                "nps": _shown(w["nps"], language),
                "week": date_text(date.fromisoformat(w["week"]), language),
            }
            for w in stats["nps_by_week"]
        ],
        repurchase={
            key: {**value, "rate": _shown(value["rate"], language)}
            for key, value in stats["repurchase"].items()
        },
        queue=items,
        offers=[
            (o.id, o.title.get(language) or o.title.get("ru", ""))
            for o in offers.listing(program.id)
        ],
        **context,
    )
    response.status_code = status
    return response


@bp.get("/feedback")
@signed_in
@with_program
def feedback_page(program: Program) -> Response:
    response = _page(program)
    db.session.commit()
    return response


@bp.post("/feedback")
@signed_in
@with_program
def save_feedback(program: Program) -> Response:
    form = request.form

    body: dict[str, Any] = {
        "enabled": "enabled" in form,
        "sample_percent": whole_or_text(form.get("sample_percent")),
        "every_days": whole_or_text(form.get("every_days")),
        "answer_days": whole_or_text(form.get("answer_days")),
    }
    try:
        feedback.update_settings(program, body, g.admin_key)
    except DomainError:
        db.session.rollback()
        return _page(program, 422, error=texts(_language())["feedback.bad"])
    db.session.commit()
    flash(texts(_language())["saved"])
    return redirect(url_for("admin.feedback_page"))


@bp.post("/feedback/<int:feedback_id>/resolve")
@signed_in
@with_program
def resolve_feedback(program: Program, feedback_id: int) -> Response:
    """One click: apology points or an offer, and the message."""
    form = request.form
    body: dict[str, Any] = {"message": (form.get("message") or "").strip()}
    offer = checks.form_int((form.get("offer_id") or "").strip())
    points = (form.get("points") or "").strip()
    if offer is not None:
        body["offer_id"] = offer
    elif points:
        found = checks.form_int(points)
        body["points"] = points if found is None else found
    try:
        feedback.resolve(program, feedback_id, body, g.admin_key)
    except DomainError:
        db.session.rollback()
        language = _language()
        return _page(
            program, 422, resolve_error=texts(language)["feedback.resolve_bad"]
        )
    db.session.commit()
    flash(texts(_language())["feedback.resolved"])
    return redirect(url_for("admin.feedback_page"))
