"""POS API under /api/v1/pos: bearer keys with role `pos`, bound to one store."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api.auth import current_key, current_principal, require_key
from app.api.body import json_body
from app.extensions import db
from app.services import (
    cards,
    catalog,
    loyalty,
    memberships,
    purchases,
    refunds,
    till_signup,
)
from app.services.errors import Invalid

bp = Blueprint("pos_api", __name__)


def _json_body() -> dict[str, Any]:
    """The body as a JSON object, numbers as Decimal/int: money never passes
    through float (the one reader, app/api/body.py)."""
    return json_body(parse_float=Decimal)


def _reply(body: dict[str, Any], status: int, replayed: bool | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    if replayed is not None:
        response.headers["Idempotent-Replayed"] = "true" if replayed else "false"
    return response


@bp.get("/me")
@require_key("pos", "shop")
def me() -> Response:
    """The till's store and program (the page checks a key with this)."""
    key = current_key()
    assert key.program is not None
    program = key.program
    store = key.store
    db.session.commit()
    return jsonify(
        {
            # A web shop's key (role shop) has no store: its channel is online.
            "store": {"id": store.id, "code": store.code, "name": store.name}
            if store is not None
            else None,
            "channel": "online" if key.role == "shop" else "store",
            "program": {"slug": program.slug, "name": program.name},
            "rules": {
                "max_redeem_share": str(program.rule("max_redeem_share")),
                "point_value": str(program.rule("point_value")),
                # loyalty.max_redeem as whole numbers: points <= floor(kopecks
                # * numerator / denominator); the page shows it as typed.
                "redeem_fraction": dict(
                    zip(
                        ("numerator", "denominator"),
                        loyalty.redeem_fraction(program),
                        strict=True,
                    )
                ),
            },
            # Plans on sale (the page's «sell a membership» buttons).
            "membership_plans": [
                memberships.plan_view(p)
                for p in memberships.list_plans(program.id, archived=False)
            ],
        }
    )


@bp.post("/scan")
@require_key("pos", "shop")
def scan() -> Response:
    """Barcode payload or typed card number -> member summary."""
    body = _json_body()
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not code.strip() or len(code) > 100:
        raise Invalid("invalid_code", "code (barcode or card number) is required")
    key = current_principal()
    assert key.program_id is not None
    member, genuine = cards.resolve_code(key.program_id, code.strip())
    summary = cards.member_summary(member, genuine)
    db.session.commit()
    return jsonify(summary)


@bp.post("/transactions")
@require_key("pos", "shop")
def create_transaction() -> Response:
    """Record a purchase: earn and redeem points, once per Idempotency-Key."""
    idempotency_key = purchases.check_idempotency_key(
        request.headers.get("Idempotency-Key")
    )
    purchase = purchases.parse_purchase(_json_body())
    body, replayed = purchases.record_purchase(
        current_principal(), idempotency_key, purchase
    )
    db.session.commit()
    return _reply(body, 201, replayed)


@bp.get("/transactions")
@require_key("pos", "shop")
def list_transactions() -> Response:
    """The store's recent purchases, newest first (?limit=, at most 100)."""
    limit = request.args.get("limit", 20, type=int) or 20
    items = purchases.recent_transactions(current_principal(), max(1, min(limit, 100)))
    db.session.commit()
    return jsonify({"transactions": items})


@bp.post("/transactions/<int:transaction_id>/refund")
@require_key("pos", "shop")
def refund_transaction(transaction_id: int) -> Response:
    """Reverse a purchase's points; again -> 200 with the same body."""
    body, replayed = refunds.refund(current_principal(), transaction_id)
    db.session.commit()
    return _reply(body, 200, replayed)


@bp.post("/subscriptions")
@require_key("pos")
def subscribe() -> Response:
    """Back in stock at the till: {"code", "sku", "size"?, "store_id"?}; the
    store defaults to the till's."""
    body = _json_body()
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "a JSON object is required")
    code, sku = body.get("code"), body.get("sku")
    if not isinstance(code, str) or not code.strip() or len(code) > 100:
        raise Invalid("invalid_code", "code (barcode or card number) is required")
    if not isinstance(sku, str) or not sku:
        raise Invalid("invalid_sku", "sku is required")
    key = current_key()
    assert key.program is not None
    member, _ = cards.resolve_code(key.program.id, code.strip())
    product = catalog.get_product(key.program, sku)
    store_id = body.get("store_id", key.store_id)
    if (
        "store_id" not in body
        and product.store_ids
        and store_id not in product.store_ids
    ):
        store_id = None  # this till's store does not carry it: any store
    sub, created = catalog.subscribe(member, product, body.get("size"), store_id, "pos")
    view = catalog.subscription_view(sub)
    db.session.commit()
    return _reply(view, 201 if created else 200)


@bp.post("/members")
@require_key("pos", "shop")
def sign_up_member() -> Response:
    """Sign a customer up at the till: their card's link goes to their phone.
    202 whether the phone was new or had a card (the answer shows neither)."""
    body = till_signup.sign_up_at_till(current_key(), _json_body())
    db.session.commit()
    return _reply(body, 202)


@bp.post("/memberships")
@require_key("pos", "shop")
def sell_membership() -> Response:
    """Sell a paid plan to the card: {"code", "plan"} once per Idempotency-Key;
    a renewal extends an active membership from its end."""
    idempotency_key = purchases.check_idempotency_key(
        request.headers.get("Idempotency-Key")
    )
    sale = memberships.parse_till_sale(_json_body())
    key = current_principal()
    assert key.program is not None
    body, replayed = memberships.sell(key, key.program, idempotency_key, sale)
    db.session.commit()
    return _reply(body, 201, replayed)


@bp.post("/memberships/<int:sale_id>/refund")
@require_key("pos", "shop")
def refund_membership(sale_id: int) -> Response:
    """Refund a membership fee within its period; again -> 200, the same body."""
    body, replayed = memberships.refund(current_principal(), sale_id)
    db.session.commit()
    return _reply(body, 200, replayed)
