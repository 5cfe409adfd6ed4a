"""/admin/stamps and /admin/referrals: the stamp card's and the referral
program's settings (the same services the API uses) and their counts."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from flask import flash, g, redirect, request, url_for
from werkzeug.wrappers import Response

from app.admin.forms import whole_or_text
from app.admin.guards import with_program
from app.admin.texts import texts
from app.admin.views import _language, _render, bp, signed_in
from app.extensions import db
from app.i18n import number
from app.models import Program
from app.services import checks, offers, referrals, stamps
from app.services.errors import DomainError


def _mechanic_page(
    mechanic: ModuleType, template: str, program: Program, **context: Any
) -> Response:
    """The stamp card's or referrals' page: settings, counts, offers to reward."""
    language = _language()
    counts = mechanic.stats(program.id)
    return _render(
        template,
        settings=mechanic.view(program),
        counts={key: number(value, language) for key, value in counts.items()},
        offers=[
            (o.id, o.title.get(language) or o.title.get("ru", ""))
            for o in offers.listing(program.id)
        ],
        **context,
    )


def _page(program: Program, **context: Any) -> Response:
    return _mechanic_page(stamps, "admin/stamps.html", program, **context)


def _referrals_page(program: Program, **context: Any) -> Response:
    return _mechanic_page(referrals, "admin/referrals.html", program, **context)


def _save(
    mechanic: ModuleType,
    program: Program,
    body: dict[str, Any],
    page: Callable[..., Response],
    bad: str,
    endpoint: str,
) -> Response:
    """Save the settings, or show the page again with 422 and the `bad` text."""
    try:
        mechanic.update_settings(program, body, g.admin_key)
    except DomainError:
        db.session.rollback()
        response = page(program, error=texts(_language())[bad])
        response.status_code = 422
        return response
    db.session.commit()
    flash(texts(_language())["saved"])
    return redirect(url_for(endpoint))


@bp.get("/stamps")
@signed_in
@with_program
def stamps_page(program: Program) -> Response:
    response = _page(program)
    db.session.commit()
    return response


@bp.post("/stamps")
@signed_in
@with_program
def save_stamps(program: Program) -> Response:
    form = request.form
    body: dict[str, Any] = {"enabled": "enabled" in form}
    target = (form.get("target") or "").strip()
    number = checks.form_int(target)
    body["target"] = target if number is None else number
    body["min_amount"] = (form.get("min_amount") or "0").strip().replace(",", ".")
    offer = (form.get("reward_offer_id") or "").strip()
    body["reward_offer_id"] = checks.form_int(offer)
    return _save(stamps, program, body, _page, "stamps.bad", "admin.stamps_page")


@bp.get("/referrals")
@signed_in
@with_program
def referrals_page(program: Program) -> Response:
    response = _referrals_page(program)
    db.session.commit()
    return response


@bp.post("/referrals")
@signed_in
@with_program
def save_referrals(program: Program) -> Response:
    form = request.form

    offer = (form.get("reward_offer_id") or "").strip()
    body: dict[str, Any] = {
        "enabled": "enabled" in form,
        "min_amount": (form.get("min_amount") or "0").strip().replace(",", "."),
        "reward_points": whole_or_text(form.get("reward_points"), "0"),
        "monthly_limit": whole_or_text(form.get("monthly_limit"), "5"),
        "reward_offer_id": checks.form_int(offer),
    }
    return _save(
        referrals,
        program,
        body,
        _referrals_page,
        "referrals.bad",
        "admin.referrals_page",
    )
