"""/admin/memberships: the paid membership plans (the same services the API
uses) and their stats (the API's one definition, last 30 days)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from flask import flash, g, redirect, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.admin.forms import whole_or_text
from app.admin.guards import with_program
from app.admin.texts import texts
from app.admin.views import _language, _render, bp, signed_in
from app.extensions import db
from app.i18n import money, number
from app.models import MembershipPlan, Program
from app.models.base import utcnow
from app.services import checks, memberships, offers
from app.services.errors import DomainError

WINDOW_DAYS = 30


def _plan_row(plan: MembershipPlan, language: str) -> dict[str, Any]:
    return {
        "id": plan.id,
        "code": plan.code,
        "name": plan.name.get(language) or plan.name.get("ru", ""),
        "price": money(Decimal(plan.price_kopecks) / 100, language),
        "period_days": number(plan.period_days, language),
        "bonus": number(plan.earn_bonus_percent, language),
        "archived": plan.archived_at is not None,
    }


def _form_values(plan: MembershipPlan | None) -> dict[str, Any]:
    if plan is None:
        return {"period_days": 30, "earn_bonus_percent": 0}
    return {
        "code": plan.code,
        "name_ru": plan.name.get("ru", ""),
        "name_en": plan.name.get("en", ""),
        "price": f"{Decimal(plan.price_kopecks) / 100:.2f}",
        "period_days": plan.period_days,
        "earn_bonus_percent": plan.earn_bonus_percent,
        "perks_ru": "\n".join(p.get("ru", "") for p in plan.perks),
        "perks_en": "\n".join(p.get("en", "") for p in plan.perks),
        "welcome_offer_id": plan.welcome_offer_id,
    }


def _page(program: Program, **context: Any) -> Response:
    language = _language()
    now = utcnow()
    counts = memberships.stats(program.id, now - timedelta(days=WINDOW_DAYS), now)
    shown = {
        key: number(counts[key], language)
        for key in ("active", "new", "renewed", "changed", "lapsed")
    }
    for key in ("revenue", "member_spend_avg", "non_member_spend_avg"):
        shown[key] = money(Decimal(counts[key]), language)
    editing = None
    chosen = checks.form_int(request.args.get("edit", ""))
    if chosen is not None:
        editing = db.session.get(MembershipPlan, chosen)
        if editing is not None and editing.program_id != program.id:
            editing = None
    context.setdefault("form", _form_values(editing))
    return _render(
        "admin/memberships.html",
        counts=shown,
        plans=[_plan_row(p, language) for p in memberships.list_plans(program.id)],
        offers=[
            (o.id, o.title.get(language) or o.title.get("ru", ""))
            for o in offers.listing(program.id)
        ],
        **context,
    )


@bp.get("/memberships")
@signed_in
@with_program
def memberships_page(program: Program) -> Response:
    response = _page(program)
    db.session.commit()
    return response


def _perks(ru: str, en: str) -> list[dict[str, str]]:
    ru_lines = [line.strip() for line in ru.splitlines() if line.strip()]
    en_lines = [line.strip() for line in en.splitlines() if line.strip()]
    perks = []
    for i, text in enumerate(ru_lines):
        perk = {"ru": text}
        if i < len(en_lines):
            perk["en"] = en_lines[i]
        perks.append(perk)
    return perks


@bp.post("/memberships")
@signed_in
@with_program
def save_membership_plan(program: Program) -> Response:
    """Create a plan, or change the one with this code."""
    form = request.form

    body: dict[str, Any] = {
        "code": (form.get("code") or "").strip(),
        "name": {"ru": form.get("name_ru") or "", "en": form.get("name_en") or ""},
        "price": (form.get("price") or "").strip().replace(",", "."),
        "period_days": whole_or_text(form.get("period_days")),
        "earn_bonus_percent": whole_or_text(form.get("earn_bonus_percent")),
        "perks": _perks(form.get("perks_ru") or "", form.get("perks_en") or ""),
        "welcome_offer_id": checks.form_int(
            (form.get("welcome_offer_id") or "").strip()
        ),
    }
    existing = db.session.scalar(
        select(MembershipPlan).where(
            MembershipPlan.program_id == program.id,
            MembershipPlan.code == body["code"],
        )
    )
    try:
        if existing is None:
            memberships.create_plan(program, body, g.admin_key)
        else:
            memberships.update_plan(program, existing, body, g.admin_key)
    except DomainError:
        db.session.rollback()
        values = {
            **{k: form.get(k, "") for k in ("code", "name_ru", "name_en", "price")},
            **{k: form.get(k, "") for k in ("perks_ru", "perks_en")},
            "period_days": form.get("period_days", ""),
            "earn_bonus_percent": form.get("earn_bonus_percent", ""),
            "welcome_offer_id": checks.form_int(form.get("welcome_offer_id") or ""),
        }
        response = _page(
            program, error=texts(_language())["memberships.bad"], form=values
        )
        response.status_code = 422
        return response
    db.session.commit()
    flash(texts(_language())["saved"])
    return redirect(url_for("admin.memberships_page"))


@bp.post("/memberships/<int:plan_id>/archive")
@signed_in
@with_program
def archive_membership_plan(program: Program, plan_id: int) -> Response:
    try:
        plan = memberships.get_plan(program.id, plan_id)
    except DomainError:
        db.session.rollback()
        return redirect(url_for("admin.memberships_page"))
    memberships.archive_plan(program, plan, g.admin_key)
    db.session.commit()
    flash(texts(_language())["saved"])
    return redirect(url_for("admin.memberships_page"))
