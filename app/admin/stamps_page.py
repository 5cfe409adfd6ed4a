"""/admin/stamps: the stamp card's settings (the same service the API uses) and
its counts."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for
from werkzeug.wrappers import Response

from app.admin.texts import texts
from app.admin.views import _language, _program, _render, bp, signed_in
from app.extensions import db
from app.i18n import number
from app.models import Program
from app.services import offers, stamps
from app.services.errors import DomainError


def _page(program: Program, **context: Any) -> Response:
    language = _language()
    counts = stamps.stats(program.id)
    return _render(
        "admin/stamps.html",
        settings=stamps.view(program),
        counts={key: number(value, language) for key, value in counts.items()},
        offers=[
            (o.id, o.title.get(language) or o.title.get("ru", ""))
            for o in offers.listing(program.id)
        ],
        **context,
    )


@bp.get("/stamps")
@signed_in
def stamps_page() -> Response:
    program = _program()
    if program is None:
        return _render("admin/no_program.html")
    response = _page(program)
    db.session.commit()
    return response


@bp.post("/stamps")
@signed_in
def save_stamps() -> Response:
    program = _program()
    if program is None:
        return _render("admin/no_program.html")
    form = request.form
    body: dict[str, Any] = {"enabled": "enabled" in form}
    target = (form.get("target") or "").strip()
    body["target"] = int(target) if target.isdigit() else target
    body["min_amount"] = (form.get("min_amount") or "0").strip().replace(",", ".")
    offer = (form.get("reward_offer_id") or "").strip()
    body["reward_offer_id"] = int(offer) if offer.isdigit() else None
    try:
        stamps.update_settings(program, body, g.admin_key)
    except DomainError:
        db.session.rollback()
        response = _page(program, error=texts(_language())["stamps.bad"])
        response.status_code = 422
        return response
    db.session.commit()
    flash(texts(_language())["saved"])
    return redirect(url_for("admin.stamps_page"))
