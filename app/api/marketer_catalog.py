"""Marketer API under /api/v1: automations, products and back in stock, stores,
members and stats. Bearer keys with role marketer or admin, scoped to the key's
program (an admin key names one with ?program=<slug> unless there is only one)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from app.api.auth import MARKETER_ROLES, current_key, require_key
from app.api.body import json_body
from app.api.marketer_common import created as _created
from app.api.marketer_common import key_program as _program
from app.database import writes
from app.extensions import db
from app.ids import MAX_ID, is_id
from app.models import (
    Member,
    PassRefresh,
    ProductSubscription,
    Program,
    Store,
)
from app.services import (
    automations,
    catalog,
    checks,
    kpi_snapshots,
    members,
    offers,
    stores,
)
from app.services import stats as figures
from app.services.errors import Invalid, NotFound

bp = Blueprint("marketer_catalog_api", __name__)
ROLES = MARKETER_ROLES


# -- automations ---------------------------------------------------------------


@bp.get("/automations")
@writes  # creates the program's automation rows on first view
@require_key(*ROLES)
def list_automations() -> Response:
    program = _program()
    rows = [
        automations.view(automations.automation(program, n)) for n in automations.NAMES
    ]
    db.session.commit()
    return jsonify({"automations": rows})


@bp.patch("/automations")
@require_key(*ROLES)
def configure_automations() -> Response:
    """{"birthday": {"enabled": true, "settings": {...}}, ...}"""
    program = _program()
    body = json_body()
    if not body:
        raise Invalid("invalid_body", "an object keyed by automation name is required")
    rows = []
    for name, changes in body.items():
        row = automations.automation(program, name)
        automations.configure(row, changes)
        rows.append(automations.view(row))
    db.session.commit()
    return jsonify({"automations": rows})


@bp.post("/automations/<name>/run")
@require_key(*ROLES)
def run_automation(name: str) -> Response:
    """Run one automation now, or for `date` (YYYY-MM-DD), even if it is off."""
    program = _program()
    body = json_body()
    checks.known_keys(body, ("date",), code="invalid_body")
    automations.automation(program, name)  # 422 for an unknown name
    if name not in automations.NAMES:
        raise Invalid(
            "unknown_automation",
            f"{name} is sent on its event (a restock); it cannot be run",
        )
    if body.get("date") is None:
        result = automations.run(program, name, datetime.now(UTC), force=True)
    else:
        try:
            day = date.fromisoformat(str(body["date"]))
        except ValueError:
            raise Invalid("invalid_date", "date must be YYYY-MM-DD") from None
        result = automations.run_for_date(program, name, day)
    db.session.commit()
    return jsonify({"name": name, **result})


# -- products and back in stock ------------------------------------------------


@bp.get("/products")
@require_key(*ROLES)
def list_products() -> Response:
    program = _program()
    waiting = catalog.waiting_counts(program)
    items = [
        {**catalog.product_view(p), "waiting": waiting.get(p.id, 0)}
        for p in catalog.products(program)
    ]
    db.session.commit()
    return jsonify({"products": items})


@bp.post("/products")
@require_key(*ROLES)
def create_product() -> Response:
    product = catalog.create_product(_program(), json_body())
    view = catalog.product_view(product)
    db.session.commit()
    return _created(view)


@bp.get("/products/<sku>")
@require_key(*ROLES)
def get_product(sku: str) -> Response:
    view = catalog.product_view(catalog.get_product(_program(), sku))
    db.session.commit()
    return jsonify(view)


def _subscriber(program: Program, body: dict[str, Any]) -> Member:
    member_id, number = body.get("member_id"), body.get("card_number")
    member = None
    if is_id(member_id):
        member = db.session.get(Member, member_id)
    elif isinstance(member_id, int) and not isinstance(member_id, bool):
        member = None  # no member can have it: 404 below
    elif isinstance(number, str):
        member = db.session.scalar(
            select(Member).where(Member.card_number == number.strip())
        )
    else:
        raise Invalid("member_required", "member_id or card_number is required")
    if (
        member is None
        or member.program_id != program.id
        or member.erased_at is not None
    ):
        raise NotFound("unknown_member", "No such member in this program.")
    return member


@bp.get("/products/<sku>/subscriptions")
@require_key(*ROLES)
def list_subscriptions(sku: str) -> Response:
    product = catalog.get_product(_program(), sku)
    status = request.args.get("status", "waiting")
    items = [
        catalog.subscription_view(s) for s in catalog.subscriptions(product, status)
    ]
    db.session.commit()
    return jsonify({"subscriptions": items})


@bp.post("/products/<sku>/subscriptions")
@require_key(*ROLES)
def create_subscription(sku: str) -> Response:
    program = _program()
    product = catalog.get_product(program, sku)
    body = json_body()
    member = _subscriber(program, body)
    sub, created = catalog.subscribe(
        member, product, body.get("size"), body.get("store_id"), "api"
    )
    view = catalog.subscription_view(sub)
    db.session.commit()
    return _created(view) if created else jsonify(view)


@bp.delete("/products/<sku>/subscriptions/<int:subscription_id>")
@require_key(*ROLES)
def delete_subscription(sku: str, subscription_id: int) -> Response:
    product = catalog.get_product(_program(), sku)
    sub = db.session.get(ProductSubscription, subscription_id)
    if sub is None or sub.product_id != product.id:
        raise NotFound("unknown_subscription", "No such subscription.")
    catalog.unsubscribe(sub)
    view = catalog.subscription_view(sub)
    db.session.commit()
    return jsonify(view)


@bp.post("/products/<sku>/restock")
@require_key(*ROLES)
def restock(sku: str) -> Response:
    program = _program()
    product = catalog.get_product(program, sku)
    body = json_body()
    checks.known_keys(body, ("size", "store_id"), code="invalid_body")
    result = catalog.restock(program, product, body.get("size"), body.get("store_id"))
    db.session.commit()
    return jsonify({"sku": sku, **result})


# -- stores --------------------------------------------------------------------


def _store(program: Program, store_id: int) -> Store:
    store = db.session.get(Store, store_id)
    if store is None or store.program_id != program.id:
        raise NotFound("unknown_store", "No such store in this program.")
    return store


def _after_store_change(
    program: Program, before: list[dict[str, Any]]
) -> dict[str, Any]:
    return stores.refresh_view(stores.after_change(program, before))


@bp.get("/stores")
@require_key(*ROLES)
def list_stores() -> Response:
    program = _program()
    items = [stores.store_view(s) for s in stores.listing(program)]
    db.session.commit()
    return jsonify({"stores": items})


@bp.post("/stores")
@require_key(*ROLES)
def create_store() -> Response:
    program = _program()
    before = stores.snapshot(program)
    store = stores.apply(program, None, json_body())
    body = {**stores.store_view(store), "refresh": _after_store_change(program, before)}
    db.session.commit()
    return _created(body)


@bp.patch("/stores/<int:store_id>")
@require_key(*ROLES)
def update_store(store_id: int) -> Response:
    program = _program()
    before = stores.snapshot(program)
    store = stores.apply(program, _store(program, store_id), json_body())
    body = {**stores.store_view(store), "refresh": _after_store_change(program, before)}
    db.session.commit()
    return jsonify(body)


@bp.delete("/stores/<int:store_id>")
@require_key(*ROLES)
def close_store(store_id: int) -> Response:
    """Close the store (kept for history: purchases and keys point to it)."""
    program = _program()
    before = stores.snapshot(program)
    store = stores.apply(program, _store(program, store_id), {"active": False})
    body = {**stores.store_view(store), "refresh": _after_store_change(program, before)}
    db.session.commit()
    return jsonify(body)


@bp.get("/stores/refreshes/<int:refresh_id>")
@require_key(*ROLES)
def store_refresh(refresh_id: int) -> Response:
    program = _program()
    refresh = db.session.get(PassRefresh, refresh_id)
    if refresh is None or refresh.program_id != program.id:
        raise NotFound("unknown_refresh", "No such refresh.")
    view = stores.refresh_view(refresh)
    db.session.commit()
    return jsonify(view)


# -- members and stats ---------------------------------------------------------


@bp.get("/members")
@require_key(*ROLES)
def list_members() -> Response:
    program = _program()
    page = request.args.get("page", 1, type=int) or 1
    per_page = request.args.get("per_page", 20, type=int) or 20
    if not 1 <= page <= MAX_ID or not 1 <= per_page <= members.MAX_PAGE:
        raise Invalid(
            "invalid_page",
            f"page 1-{MAX_ID}, per_page 1-{members.MAX_PAGE}",
        )
    result = members.search(
        program, request.args.get("q", ""), page, per_page, current_key()
    )
    db.session.commit()
    return jsonify(result)


@bp.get("/members/<int:member_id>")
@require_key(*ROLES)
def get_member(member_id: int) -> Response:
    member = members.get_member(_program(), member_id)
    body = members.profile(member, current_key())
    db.session.commit()
    return jsonify(body)


@bp.post("/members/<int:member_id>/points")
@require_key(*ROLES)
def adjust_points(member_id: int) -> Response:
    member = members.get_member(_program(), member_id)
    entry = members.adjust_points(member, json_body(), current_key())
    body = {"entry_id": entry.id, "points": entry.points, "balance": member.points}
    db.session.commit()
    return _created(body)


@bp.delete("/members/<int:member_id>")
@require_key(*ROLES)
def erase_member(member_id: int) -> Response:
    member = members.get_member(_program(), member_id)
    members.erase(member)
    db.session.commit()
    return jsonify({"id": member_id, "erased": True})


@bp.get("/stats")
@require_key(*ROLES)
def stats() -> Response:
    program = _program()
    body = figures.daily(program, figures.parse_days(request.args.get("days")))
    # Results (issue 16): the KPI overview (a large program's from its snapshot).
    body["kpi"] = kpi_snapshots.current(program)
    # Offers (issue 15): per offer and source, since they were issued (not
    # limited to `days`): the same function /admin/offers counts with.
    body["offers"] = list(offers.by_offer(program.id).values())
    db.session.commit()
    return jsonify(body)
