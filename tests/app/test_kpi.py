"""The KPI overview: one definition, the same figures in /api/v1/stats and on
/admin's first page (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import LedgerEntry, Member, PosTransaction, Program
from app.services import kpi
from app.services.auth import create_key
from tests.app.campaign_support import add_member, pos_key, register_device
from tests.app.test_admin import sign_in
from tests.conftest import Demo


def _buy(member: Member, key_id: int, store_id: int, days_ago: float, rub: int) -> None:
    db.session.add(
        PosTransaction(
            program_id=member.program_id,
            member_id=member.id,
            store_id=store_id,
            api_key_id=key_id,
            idempotency_key=f"k{member.id}-{days_ago}",
            fingerprint="x" * 64,
            receipt_id="r",
            amount_kopecks=rub * 100,
            response={},
            created_at=datetime.now(UTC) - timedelta(days=days_ago),
        )
    )


def test_kpi_figures_and_the_page_and_api_agree(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        till = pos_key(program)
        now = datetime.now(UTC)
        a = add_member(program, created_at=now - timedelta(days=20), points=300)
        b = add_member(program, created_at=now - timedelta(days=20), tier="gold")
        c = add_member(program, created_at=now - timedelta(days=300))
        register_device(a)
        _buy(a, till.id, till.store_id, 2, 100)
        _buy(a, till.id, till.store_id, 5, 300)
        _buy(b, till.id, till.store_id, 60, 200)
        _buy(c, till.id, till.store_id, 200, 400)
        _buy(c, till.id, till.store_id, 400, 999)  # older than a year
        for kind, points in (("earn", 100), ("bonus", 100), ("redeem", -50)):
            db.session.add(
                LedgerEntry(
                    program_id=program.id, member_id=a.id, kind=kind, points=points
                )
            )
        marketer = create_key("marketer", program=program).key
        db.session.commit()
        figures = kpi.overview(program)
        outstanding = sum(
            db.session.scalars(
                select(Member.points).where(
                    Member.program_id == program.id, Member.erased_at.is_(None)
                )
            )
        )
        issued = sum(
            db.session.scalars(
                select(LedgerEntry.points).where(
                    LedgerEntry.program_id == program.id,
                    LedgerEntry.kind.in_(("earn", "bonus")),
                )
            )
        )
        db.session.commit()
    assert figures["active_30d"] == 1
    assert figures["active_90d"] == 2
    assert figures["purchasers_365d"] == 3
    assert figures["repeat_purchase_rate"] == round(1 / 3, 4)
    assert figures["purchase_frequency"] == round(4 / 3, 2)
    assert figures["average_check"] == 250.0  # (100 + 300 + 200 + 400) / 4
    assert figures["revenue_30d"] == 400.0
    assert figures["points_outstanding"] == outstanding
    assert figures["points_liability"] == outstanding * 1.0
    assert figures["redemption_rate"] == round(50 / issued, 4)
    assert figures["members_by_tier"]["gold"] >= 1
    assert figures["wallet_reach"]["apple"] >= 1
    assert figures["wallet_reach"]["any"] >= figures["wallet_reach"]["apple"]
    assert len(figures["cohorts"]) == kpi.COHORT_MONTHS
    # The API and the page show the same figures.
    stats = client.get(
        "/api/v1/stats", headers={"Authorization": f"Bearer {marketer}"}
    ).json
    assert stats["kpi"]["as_of"] >= now.isoformat()
    assert {k: v for k, v in stats["kpi"].items() if k != "as_of"} == figures
    sign_in(client, marketer)
    html = client.get("/admin/?lang=ru").get_data(as_text=True)
    assert 'data-kpi="active_30d">1<' in html
    assert 'data-kpi="active_90d">2<' in html
    assert 'data-kpi="average_check">250,00\u00a0₽<' in html
    assert 'data-kpi="redemption_rate">' in html
    assert "Ключевые показатели" in html
    assert "heatmap" in html
    assert "Key figures" not in html


def test_a_large_program_reads_the_snapshot_the_scheduler_refreshes(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """At KPI_SNAPSHOT_MEMBERS members or more the page and the API answer the
    stored overview (with its as_of); the job recomputes it when it is due."""
    from app.models import KpiSnapshot
    from app.services import kpi_snapshots

    app.config["KPI_SNAPSHOT_MEMBERS"] = 1
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        till = pos_key(program)
        buyer = add_member(program, created_at=datetime.now(UTC) - timedelta(days=9))
        marketer = create_key("marketer", program=program).key
        db.session.commit()
        buyer_id, till_id, store_id = buyer.id, till.id, till.store_id
    headers = {"Authorization": f"Bearer {marketer}"}
    first = client.get("/api/v1/stats", headers=headers).json["kpi"]
    with app.app_context():
        stored = db.session.get(KpiSnapshot, demo.program_id)
        assert stored is not None
        assert stored.computed_at.isoformat() == first["as_of"]
        _buy(db.session.get(Member, buyer_id), till_id, store_id, 1, 700)
        db.session.commit()
    # Not due yet: the same answer, on the API and on the page.
    again = client.get("/api/v1/stats", headers=headers).json["kpi"]
    assert again == first
    sign_in(client, marketer)
    html = client.get("/admin/?lang=ru").get_data(as_text=True)
    assert f'data-kpi="active_30d">{first["active_30d"]}<' in html
    assert 'id="kpi-as-of">Данные на ' in html
    # The job leaves a fresh snapshot alone, and recomputes a due one.
    with app.app_context():
        kpi_snapshots.refresh_job(datetime.now(UTC))
        db.session.commit()
        assert db.session.get(KpiSnapshot, demo.program_id).body == {
            k: v for k, v in first.items() if k != "as_of"
        }
        later = datetime.now(UTC) + timedelta(seconds=601)
        kpi_snapshots.refresh_job(later)
        db.session.commit()
        row = db.session.get(KpiSnapshot, demo.program_id)
        assert row.computed_at == later.replace(microsecond=row.computed_at.microsecond)
        assert row.body["active_30d"] == first["active_30d"] + 1
    fresh = client.get("/api/v1/stats", headers=headers).json["kpi"]
    assert fresh["active_30d"] == first["active_30d"] + 1
    # A small program is computed on every request.
    app.config["KPI_SNAPSHOT_MEMBERS"] = 10**9
    with app.app_context():
        db.session.execute(db.delete(KpiSnapshot))
        db.session.commit()
    live = client.get("/api/v1/stats", headers=headers).json["kpi"]
    assert live["active_30d"] == fresh["active_30d"]
    with app.app_context():
        assert db.session.get(KpiSnapshot, demo.program_id) is None
