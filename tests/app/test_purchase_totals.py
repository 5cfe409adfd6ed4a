"""member_purchase_total (services.purchase_totals; migration 0030_results):
after purchases through the POS API, refunds, rows written directly (an import,
a generator), a changed and a deleted purchase and a member's erasure, every
member's row equals what their unrefunded purchases say; `rebuild` and the
migration's backfill give the same rows (both databases)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import delete, select, update

from app.extensions import db
from app.models import ApiKey, Member, MemberPurchaseTotal, PosTransaction, Store
from app.services import privacy, purchase_totals
from tests.app.pos_support import card, make_key
from tests.app.test_pos_api import auth, buy
from tests.conftest import Demo


def expected() -> dict[int, tuple]:
    """What the purchases say, worked out here in Python."""
    rows = db.session.execute(
        select(
            PosTransaction.id,
            PosTransaction.member_id,
            PosTransaction.program_id,
            PosTransaction.amount_kopecks,
            PosTransaction.created_at,
            PosTransaction.store_id,
        ).where(PosTransaction.refunded_at.is_(None))
    ).all()
    out: dict[int, tuple] = {}
    for member_id in {r.member_id for r in rows}:
        mine = [r for r in rows if r.member_id == member_id]
        times = sorted((r.created_at for r in mine), reverse=True)
        latest = max(mine, key=lambda r: r.id)
        out[member_id] = (
            mine[0].program_id,
            len(mine),
            sum(r.amount_kopecks for r in mine),
            min(times),
            times[0],
            times[1] if len(times) > 1 else None,
            latest.store_id,
        )
    return out


def stored() -> dict[int, tuple]:
    t = MemberPurchaseTotal
    return {
        r[0]: tuple(r[1:])
        for r in db.session.execute(
            select(
                t.member_id,
                t.program_id,
                t.purchases,
                t.spend_kopecks,
                t.first_at,
                t.last_at,
                t.prev_at,
                t.last_store_id,
            )
        )
    }


def check(app: Flask) -> dict[int, tuple]:
    with app.app_context():
        want = expected()
        assert stored() == want
        purchase_totals.rebuild()
        assert stored() == want
        db.session.rollback()
        return want


def _direct(
    member_id: int,
    program_id: int,
    store_id: int,
    key_id: int,
    at: datetime,
    amount: int,
) -> None:
    db.session.add(
        PosTransaction(
            program_id=program_id,
            member_id=member_id,
            store_id=store_id,
            api_key_id=key_id,
            idempotency_key=str(uuid.uuid4()),
            fingerprint="x",
            receipt_id="r",
            amount_kopecks=amount,
            response={},
            created_at=at,
        )
    )


def test_totals_follow_purchases_refunds_writes_and_erasure(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = make_key(app)
    first, second = (card(app, p.member_id) for p in demo.passes[:2])
    sales = [
        buy(client, key, first.barcode, amount=amount).get_json()
        for amount in ("100", "250.50", "40")
    ]
    buy(client, key, second.barcode, amount="999")
    want = check(app)
    assert want[first.member_id][1:3] == (3, 39050)
    # Refund the latest purchase, then one in the middle: recomputed.
    for sale in (sales[2], sales[0]):
        url = f"/api/v1/pos/transactions/{sale['transaction_id']}/refund"
        assert client.post(url, headers=auth(key)).status_code == 200
        assert check(app)[first.member_id][1:3] == (
            2 if sale is sales[2] else 1,
            35050 if sale is sales[2] else 25050,
        )
    # Refund the member's only purchase: no row left.
    with app.app_context():
        only = db.session.scalar(
            select(PosTransaction.id).where(
                PosTransaction.member_id == second.member_id
            )
        )
    url = f"/api/v1/pos/transactions/{only}/refund"
    assert client.post(url, headers=auth(key)).status_code == 200
    assert second.member_id not in check(app)
    # Rows written directly (an import of past purchases), older and newer than
    # the latest, at another store; then one moved in time and one deleted.
    with app.app_context():
        key_id = db.session.scalar(select(ApiKey.id).where(ApiKey.role == "pos"))
        stores = db.session.scalars(select(Store.id).order_by(Store.id)).all()
        now = datetime.now(UTC).replace(microsecond=0)
        for days, amount in ((300, 500), (2, 700), (0, 900)):
            _direct(
                second.member_id,
                demo.program_id,
                stores[1],
                key_id,
                now - timedelta(days=days),
                amount,
            )
        _direct(
            first.member_id,
            demo.program_id,
            stores[1],
            key_id,
            now - timedelta(days=900),
            1,
        )
        db.session.commit()
    assert check(app)[second.member_id][1:] == (
        3,
        2100,
        now - timedelta(days=300),
        now,
        now - timedelta(days=2),
        stores[1],
    )
    with app.app_context():
        newest = db.session.scalar(
            select(PosTransaction.id)
            .where(PosTransaction.member_id == second.member_id)
            .order_by(PosTransaction.id.desc())
        )
        db.session.execute(
            update(PosTransaction)
            .where(PosTransaction.id == newest)
            .values(created_at=now - timedelta(days=400), amount_kopecks=10)
        )
        db.session.commit()
    assert check(app)[second.member_id][1:6] == (
        3,
        1210,
        now - timedelta(days=400),
        now - timedelta(days=2),
        now - timedelta(days=300),
    )
    with app.app_context():
        db.session.execute(delete(PosTransaction).where(PosTransaction.id == newest))
        db.session.commit()
    check(app)
    # Erasure keeps the purchases (for the ledger): the totals stay theirs.
    with app.app_context():
        privacy.erase_member(db.session.get(Member, first.member_id))
        db.session.commit()
    assert first.member_id in check(app)


def test_the_migration_backfills_what_the_purchases_say(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = make_key(app)
    for p in demo.passes[:3]:
        c = card(app, p.member_id)
        for amount in ("10", "20"):
            buy(client, key, c.barcode, amount=amount)
    sale = buy(client, key, card(app, demo.passes[0].member_id).barcode).get_json()
    url = f"/api/v1/pos/transactions/{sale['transaction_id']}/refund"
    assert client.post(url, headers=auth(key)).status_code == 200
    want = check(app)
    with app.app_context():
        db.session.remove()
        downgrade(revision="0029_scale")
        upgrade()
        db.engine.dispose()
        assert stored() == want
        assert len(want) == 3
