"""/admin/offers: the program's offer templates with their counts (the same
`offers.stats` the API answers), a form to create one, archiving."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import flash, g, redirect, request, url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from app.admin.forms import whole_or_text
from app.admin.guards import with_program
from app.admin.texts import texts
from app.admin.views import _language, _render, bp, signed_in
from app.extensions import db
from app.i18n import date_text, money
from app.models import Campaign, Program
from app.services import audit, automations, checks, offers
from app.services.errors import DomainError

# Form field -> the page text naming it (a refusal lists the fields to check).
_FIELD_TEXT = {
    "kind": "offer.kind",
    "value": "offer.value",
    "cap": "offer.cap",
    "min_amount": "offer.min_amount",
    "combinable": "offer.combinable",
    "valid_days": "offer.valid_days",
    "valid_from": "offer.valid_until",
    "valid_until": "offer.valid_until",
    "title": "offer.title_ru",
    "title.ru": "offer.title_ru",
    "title.en": "offer.title_en",
    "terms": "offer.terms_ru",
    "terms.ru": "offer.terms_ru",
    "terms.en": "offer.terms_en",
}


def offer_body(form: MultiDict[str, str]) -> dict[str, Any]:
    """The form's fields as the API's body (empty fields left out)."""

    def text(name: str) -> str:
        return (form.get(name) or "").strip()

    body: dict[str, Any] = {"kind": text("kind"), "combinable": "combinable" in form}
    value = text("value")
    if value:
        body["value"] = value if body["kind"] == "amount_off" else whole_or_text(value)
    for name in ("cap", "min_amount"):
        if text(name):
            body[name] = text(name).replace(",", ".")
    if text("valid_days"):
        body["valid_days"] = whole_or_text(text("valid_days"))
    if text("valid_until"):
        body["valid_until"] = text("valid_until")
    for name in ("title", "terms"):
        texts_ = {lang: text(f"{name}_{lang}") for lang in ("ru", "en")}
        texts_ = {k: v for k, v in texts_.items() if v}
        if texts_ or name == "title":
            body[name] = texts_
    return body


def _counted(total: dict[str, Any], language: str) -> dict[str, Any]:
    """A `stats`/`totals` row with its figures as the page writes them."""
    return {
        **total,
        "rate": f"{total['redemption_rate'] * 100:.0f} %",
        "discount_text": money(Decimal(total["discount"]), language),
        "revenue_text": money(Decimal(total["revenue"]), language),
    }


def _source_label(
    source: dict[str, str], campaign_names: dict[int, str], t: dict[str, str]
) -> str:
    """«Кампания №5 «Осень»», «Автоматизация: день рождения», «Вручную»..."""
    kind, ref = source["kind"], source["ref"]
    if kind == "campaign":
        number = checks.form_int(ref)
        name = campaign_names.get(number) if number is not None else None
        return t["offer.source.campaign"].format(id=ref, name=name or "—")
    if kind == "automation":
        name = t.get(f"auto.{ref}", ref)
        return t["offer.source.automation"].format(name=name)
    return t.get(f"offer.source.{kind}", kind)


def source_rows(program: Program, language: str) -> list[dict[str, Any]]:
    """Per offer and source (campaign, automation, manual...): the same
    `offers.by_offer` rows the API's stats answer, labelled for the page."""
    t = texts(language)
    counts = offers.by_offer(program.id)
    titles = {
        o.id: o.title.get(language) or o.title.get("ru", "")
        for o in offers.listing(program.id, archived=True)
    }
    names: dict[int, str] = {
        row.id: row.name
        for row in db.session.execute(
            select(Campaign.id, Campaign.name).where(Campaign.program_id == program.id)
        )
    }
    rows = []
    for offer_id, counted in sorted(counts.items()):
        for row in counted["by_source"]:
            rows.append(
                {
                    "offer_id": offer_id,
                    "title": titles.get(offer_id, ""),
                    "source": row["source"],
                    "source_text": _source_label(row["source"], names, t),
                    **_counted(row, language),
                }
            )
    return rows


def _rows(program: Program, language: str) -> list[dict[str, Any]]:
    counts = offers.by_offer(program.id)
    rows = []
    for offer in offers.listing(program.id):
        total = counts.get(offer.id) or offers.totals([])
        rows.append(
            {
                "offer": offer,
                "title": offer.title.get(language) or offer.title.get("ru", ""),
                "value": offers.shown_value(offer.kind, offer.value),
                "min_amount": money(Decimal(offer.min_kopecks) / 100, language),
                "until": date_text(offer.valid_until.date(), language)
                if offer.valid_until
                else "",
                **_counted(total, language),
            }
        )
    return rows


def _page(program: Program, **context: Any) -> Response:
    language = _language()
    back_in_stock = automations.configured(program, "back_in_stock")
    return _render(
        "admin/offers.html",
        offers=_rows(program, language),
        sources=source_rows(program, language),
        back_in_stock_offer=back_in_stock.get(automations.OFFER_SETTING),
        kinds=offers.KINDS,
        values=context.pop("values", {}),
        **context,
    )


@bp.get("/offers")
@signed_in
@with_program
def offers_page(program: Program) -> Response:
    response = _page(program)
    db.session.commit()
    return response


@bp.post("/offers")
@signed_in
@with_program
def create_offer(program: Program) -> Response:
    t = texts(_language())
    try:
        offers.create_offer(program, offer_body(request.form), g.admin_key)
    except DomainError as error:
        db.session.rollback()
        fields = error.extra.get("fields") or {}
        names = sorted({t[_FIELD_TEXT.get(f, "offer.value")] for f in fields})
        response = _page(
            program,
            error=t["offer.bad_fields"].format(fields=", ".join(names)),
            values=request.form,
        )
        response.status_code = 422
        return response
    db.session.commit()
    flash(t["saved"])
    return redirect(url_for("admin.offers_page"))


@bp.post("/offers/<int:offer_id>/archive")
@signed_in
@with_program
def archive_offer(program: Program, offer_id: int) -> Response:
    try:
        offer = offers.get_offer(program.id, offer_id)
    except DomainError:
        db.session.rollback()
        return redirect(url_for("admin.offers_page"))
    offers.update_offer(offer, {"archived": True}, g.admin_key)
    db.session.commit()
    flash(texts(_language())["offer.archived"])
    return redirect(url_for("admin.offers_page"))


@bp.post("/offers/back-in-stock")
@signed_in
@with_program
def back_in_stock_offer(program: Program) -> Response:
    """The offer that goes with every back-in-stock message (or none)."""
    t = texts(_language())
    raw = (request.form.get("offer_id") or "").strip()
    # Not a number: passed on as it is, for the setting's check to refuse.
    offer_id: int | str | None = (checks.form_int(raw) or raw) if raw else None
    row = automations.automation(program, "back_in_stock")
    try:
        automations.configure(row, {"settings": {"offer_id": offer_id}})
    except DomainError:
        db.session.rollback()
        response = _page(program, error=t["offer.back_in_stock.bad"])
        response.status_code = 422
        return response
    audit.record(
        "automation.configure",
        target="automation:back_in_stock",
        program_id=program.id,
        key=g.admin_key,
        details={"offer_id": offer_id},
    )
    db.session.commit()
    flash(t["saved"])
    return redirect(url_for("admin.offers_page"))
