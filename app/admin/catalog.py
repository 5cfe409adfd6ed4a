"""/admin stores, products (back in stock) and automations: thin views over the
stores, catalog and automations services. Plain HTML forms (each with its CSRF
token) post here; bad input re-shows the form with a friendly ru/en message and
changes nothing. The stores page polls its geo refresh from static/admin-catalog.js."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import flash, g, jsonify, redirect, request, url_for
from werkzeug.exceptions import NotFound

# Werkzeug's: what `redirect` returns, and the base of Flask's own Response.
from werkzeug.wrappers import Response

from app.admin import forms
from app.admin.guards import with_program
from app.admin.texts import texts
from app.admin.views import _language, _program, _render, bp, signed_in
from app.database import writes
from app.extensions import db
from app.i18n import date_text, datetime_text, plural
from app.models import PassRefresh, Program, Store
from app.services import audit, automations, catalog, stores
from app.services.errors import DomainError, Invalid

SUBSCRIPTION_STATES = ("waiting", "restocked", "fulfilled", "cancelled", "all")


def _t() -> dict[str, str]:
    return texts(_language())


# -- stores --------------------------------------------------------------------


def _stores_page(program: Program, **context: Any) -> Response:
    rows = stores.listing(program)
    refresh = None
    refresh_id = request.args.get("refresh", type=int)
    if refresh_id is not None:
        found = db.session.get(PassRefresh, refresh_id)
        if found is not None and found.program_id == program.id:
            refresh = stores.refresh_view(found)
    editing = context.pop("editing", None)
    edit_id = request.args.get("edit", type=int)
    if editing is None and edit_id is not None:
        editing = next((s for s in rows if s.id == edit_id), None)
    return _render(
        "admin/stores.html",
        stores=rows,
        refresh=refresh,
        editing=editing,
        values=context.pop("values", {}),
        **context,
    )


@bp.get("/stores")
@signed_in
@with_program
def stores_page(program: Program) -> Response:
    response = _stores_page(program)
    db.session.commit()
    return response


def _store(program: Program, store_id: int) -> Store:
    store = db.session.get(Store, store_id)
    if store is None or store.program_id != program.id:
        raise NotFound()
    return store


def _change_store(
    program: Program, store: Store | None, body: dict[str, Any], action: str
) -> Response:
    before = stores.snapshot(program)
    saved = stores.apply(program, store, body)
    refresh = stores.after_change(program, before)
    audit.record(
        action,
        target=f"store:{saved.id}",
        program_id=program.id,
        key=g.admin_key,
        details={"code": saved.code, "refresh": refresh.id},
    )
    db.session.commit()
    flash(_t()["saved"])
    return redirect(url_for("admin.stores_page", refresh=refresh.id))


@bp.post("/stores")
@signed_in
@with_program
def add_store(program: Program) -> Response:
    try:
        return _change_store(
            program, None, forms.store_body(request.form, True), "store.create"
        )
    except DomainError as error:
        return _failed_stores(program, error, values=request.form)


def _failed_stores(program: Program, error: DomainError, **context: Any) -> Response:
    db.session.rollback()
    response = _stores_page(
        program, error=forms.friendly(error, _t(), "stores"), **context
    )
    response.status_code = 422
    return response


@bp.post("/stores/<int:store_id>")
@signed_in
@with_program
def edit_store(program: Program, store_id: int) -> Response:
    store = _store(program, store_id)
    try:
        return _change_store(
            program, store, forms.store_body(request.form, False), "store.update"
        )
    except DomainError as error:
        db.session.rollback()
        store = _store(program, store_id)
        return _failed_stores(program, error, editing=store, values=request.form)


@bp.post("/stores/<int:store_id>/active")
@signed_in
@with_program
def store_active(program: Program, store_id: int) -> Response:
    """Close a store (kept for history) or open it again."""
    store = _store(program, store_id)
    active = request.form.get("active") == "1"
    return _change_store(
        program, store, {"active": active}, "store.open" if active else "store.close"
    )


@bp.get("/stores/refreshes/<int:refresh_id>")
@signed_in
def store_refresh(refresh_id: int) -> Response:
    """The geo refresh's progress, polled by the stores page."""
    program = _program()
    refresh = db.session.get(PassRefresh, refresh_id)
    if program is None or refresh is None or refresh.program_id != program.id:
        raise NotFound()
    body = stores.refresh_view(refresh)
    db.session.commit()
    response = jsonify(body)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# -- products ------------------------------------------------------------------


def _products_page(program: Program, **context: Any) -> Response:
    waiting = catalog.waiting_counts(program)
    rows = [(p, waiting.get(p.id, 0)) for p in catalog.products(program)]
    shops = stores.listing(program)
    return _render(
        "admin/products.html",
        products=rows,
        stores=shops,
        store_names={s.id: s.name for s in shops},
        values=context.pop("values", {}),
        **context,
    )


@bp.get("/products")
@signed_in
@with_program
def products_page(program: Program) -> Response:
    response = _products_page(program)
    db.session.commit()
    return response


@bp.post("/products")
@signed_in
@with_program
def create_product(program: Program) -> Response:
    try:
        product = catalog.create_product(program, forms.product_body(request.form))
    except (DomainError, forms.FormError) as error:
        db.session.rollback()
        response = _products_page(
            program,
            error=forms.friendly(error, _t(), "products"),
            values=request.form,
        )
        response.status_code = 422
        return response
    audit.record(
        "product.create",
        target=f"product:{product.sku}",
        program_id=program.id,
        key=g.admin_key,
    )
    db.session.commit()
    flash(_t()["saved"])
    return redirect(url_for("admin.product_page", sku=product.sku))


def _product_page(program: Program, sku: str, **context: Any) -> Response:
    try:
        product = catalog.get_product(program, sku)
    except DomainError:
        raise NotFound() from None
    status = request.args.get("status", "waiting")
    if status not in SUBSCRIPTION_STATES:
        status = "waiting"
    shops = stores.listing(program)
    names = {s.id: s.name for s in shops}
    carrying = [
        s
        for s in shops
        if s.active and (not product.store_ids or s.id in product.store_ids)
    ]
    return _render(
        "admin/product.html",
        product=product,
        subscriptions=catalog.subscriptions(product, status),
        status=status,
        states=SUBSCRIPTION_STATES,
        store_names=names,
        carrying=carrying,
        **context,
    )


@bp.get("/products/<sku>")
@signed_in
@with_program
def product_page(program: Program, sku: str) -> Response:
    response = _product_page(program, sku)
    db.session.commit()
    return response


@bp.post("/products/<sku>/restock")
@signed_in
@with_program
def restock(program: Program, sku: str) -> Response:
    try:
        product = catalog.get_product(program, sku)
    except DomainError:
        raise NotFound() from None
    try:
        size, store_id = forms.restock_choice(request.form)
        result = catalog.restock(program, product, size, store_id)
    except (DomainError, forms.FormError) as error:
        db.session.rollback()
        response = _product_page(
            program, sku, error=forms.friendly(error, _t(), "restock")
        )
        response.status_code = 422
        return response
    audit.record(
        "product.restock",
        target=f"product:{sku}",
        program_id=program.id,
        key=g.admin_key,
        details={"size": size, "store_id": store_id, **result},
    )
    db.session.commit()
    flash(_t()["restock.result"].format(**result))
    return redirect(url_for("admin.product_page", sku=sku))


# -- automations ---------------------------------------------------------------


def _automations_page(program: Program, **context: Any) -> Response:
    zone = ZoneInfo(program.timezone)
    language = _language()
    items = []
    for name in automations.NAMES:
        row = automations.automation(program, name)
        runs = [
            {
                "when": datetime_text(r.finished_at.astimezone(zone), language),
                "date": date_text(r.for_date, language),
                "sent": r.sent,
                "runs": r.runs,
                "trigger": r.trigger,
                "error": r.error,
            }
            for r in automations.recent_runs(row)
        ]
        items.append(
            {
                "name": name,
                "enabled": row.enabled,
                "settings": automations.settings(row),
                "runs": runs,
            }
        )
    failed = context.pop("failed", None)
    return _render(
        "admin/automations.html",
        automations=items,
        zone=program.timezone,
        failed=failed,
        values=context.pop("values", {}),
        **context,
    )


@bp.get("/automations")
@writes  # creates the program's automation rows on first view
@signed_in
@with_program
def automations_page(program: Program) -> Response:
    response = _automations_page(program)
    db.session.commit()  # rows created on first view
    return response


def _automation_failed(
    program: Program, name: str, error: DomainError | forms.FormError
) -> Response:
    db.session.rollback()
    response = _automations_page(
        program,
        error=forms.friendly(error, _t(), "automations"),
        failed=name,
        values=request.form,
    )
    response.status_code = 422
    return response


def _known(name: str) -> str:
    if name not in automations.NAMES:
        raise NotFound()
    return name


@bp.post("/automations/<name>")
@signed_in
@with_program
def configure_automation(program: Program, name: str) -> Response:
    row = automations.automation(program, _known(name))
    try:
        settings = forms.automation_settings(name, request.form, _t())
        automations.configure(row, {"settings": settings})
    except (DomainError, forms.FormError) as error:
        return _automation_failed(program, name, error)
    audit.record(
        "automation.configure",
        target=f"automation:{name}",
        program_id=program.id,
        key=g.admin_key,
    )
    db.session.commit()
    flash(_t()["saved"])
    return redirect(url_for("admin.automations_page", _anchor=f"auto-{name}"))


@bp.post("/automations/<name>/enabled")
@signed_in
@with_program
def toggle_automation(program: Program, name: str) -> Response:
    row = automations.automation(program, _known(name))
    enabled = request.form.get("enabled") == "1"
    automations.configure(row, {"enabled": enabled})
    audit.record(
        "automation.on" if enabled else "automation.off",
        target=f"automation:{name}",
        program_id=program.id,
        key=g.admin_key,
    )
    db.session.commit()
    t = _t()
    flash(
        t["auto.turned_on" if enabled else "auto.turned_off"].format(
            name=t[f"auto.{name}"]
        )
    )
    return redirect(url_for("admin.automations_page", _anchor=f"auto-{name}"))


@bp.post("/automations/<name>/run")
@signed_in
@with_program
def run_automation(program: Program, name: str) -> Response:
    """Run now (or for a date), even if it is off: like the API's run."""
    _known(name)
    raw = request.form.get("date", "").strip()
    try:
        day = date.fromisoformat(raw) if raw else None
    except ValueError:
        return _automation_failed(
            program, name, Invalid("invalid_date", "date must be YYYY-MM-DD")
        )
    if day is None:
        result = automations.run(program, name, datetime.now(UTC), force=True)
    else:
        result = automations.run_for_date(program, name, day)
    audit.record(
        "automation.run",
        target=f"automation:{name}",
        program_id=program.id,
        key=g.admin_key,
        details=result,
    )
    db.session.commit()
    language = _language()
    t = texts(language)
    label = t[f"auto.{name}"]
    if "waiting_until" in result:
        until = datetime.fromisoformat(result["waiting_until"])
        local = until.astimezone(ZoneInfo(program.timezone))
        flash(t["auto.waits"].format(name=label, until=datetime_text(local, language)))
    else:
        for_day = date_text(date.fromisoformat(result["date"]), language)
        messages = plural(language, "{n} message", "{n} messages", result["sent"])
        flash(t["auto.ran"].format(name=label, date=for_day, messages=messages))
    return redirect(url_for("admin.automations_page", _anchor=f"auto-{name}"))
