"""Campaigns: API lifecycle, validation, batched resumable sending, quiet hours,
progress numbers, and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    AuditEntry,
    Campaign,
    Member,
    MemberMessage,
    Program,
    PushDelivery,
)
from app.services import campaigns, scheduler
from app.services.auth import create_key
from tests.app.campaign_support import NOW, add_member, register_device
from tests.conftest import Demo

TEXTS = {"ru": "Скидка 20% на пальто", "en": "20% off coats"}
# 23:30 in Moscow: quiet hours (21-09).
QUIET = datetime(2026, 11, 25, 20, 30, tzinfo=UTC)


@pytest.fixture
def key(app: Flask, demo: Demo) -> str:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        issued = create_key("marketer", program=program)
        db.session.commit()
        return issued.key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def create(client: FlaskClient, key: str, **body: object) -> dict:
    response = client.post(
        "/api/v1/campaigns",
        json={"texts": TEXTS, "segment": {"all": {}}, **body},
        headers=auth(key),
    )
    assert response.status_code == 201, response.json
    return response.json


def count(model: type, *where: object) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_lifecycle_send_once_with_progress(
    app: Flask, client: FlaskClient, demo: Demo, key: str
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        for _ in range(2):
            register_device(add_member(program))
        db.session.commit()
    campaign = create(client, key, name="Coats")
    assert campaign["state"] == "draft"
    assert campaign["progress"]["targeted"] is None
    # A draft is not sent.
    with app.app_context():
        scheduler.run_due(NOW)
        assert count(MemberMessage) == 0
    scheduled = client.post(
        f"/api/v1/campaigns/{campaign['id']}/schedule", headers=auth(key)
    )
    assert scheduled.json["state"] == "scheduled"
    with app.app_context():
        assert scheduler.run_due(NOW)["campaigns"] == "ok"
    done = client.get(f"/api/v1/campaigns/{campaign['id']}", headers=auth(key)).json
    assert done["state"] == "done"
    # 3 demo members + 2; the 2 new ones have an Apple device each.
    assert done["progress"] == {
        "targeted": 5,
        "reachable": 2,
        "messaged": 5,
        "held_back": 0,
        "queued": 2,
        "sent": 0,
        "failed": 0,
        "dropped": 0,
        "percent": 100,
        # No fallback channels (the default): no SMS or e-mail.
        "sms": {"queued": 0, "sent": 0, "failed": 0, "cost": 0.0},
        "email": {"queued": 0, "sent": 0, "failed": 0},
    }
    with app.app_context():
        # Running again (a second worker, a restart) sends nothing more.
        campaign_row = db.session.get(Campaign, campaign["id"])
        campaign_row.state = "sending"
        campaign_row.cursor = 0
        db.session.commit()
        campaigns.run_campaign(campaign["id"], NOW)
        assert count(MemberMessage) == 5
        assert count(PushDelivery, PushDelivery.campaign_id == campaign["id"]) == 2
    listed = client.get("/api/v1/campaigns", headers=auth(key)).json["campaigns"]
    assert [c["id"] for c in listed] == [campaign["id"]]
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
        assert list(actions) == ["campaign.create", "campaign.schedule"]


def test_resumes_after_a_crash_mid_way(
    app: Flask, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaigns, "BATCH", 2)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        for _ in range(4):
            add_member(program)
        campaign = campaigns.create(
            program,
            {"texts": TEXTS, "segment": {"all": {}}, "state": "scheduled"},
            None,
        )
        db.session.commit()
        campaign_id = campaign.id
        # One batch, then the process "dies" (nothing more runs).
        assert campaigns.run_campaign(campaign_id, NOW, max_batches=1) == "sending"
        assert count(MemberMessage) == 2
        first_cursor = db.session.get(Campaign, campaign_id).cursor
        # A crash inside the next batch, after its messages were inserted: its
        # work is rolled back, the cursor stays.
        real_move = campaigns.messaging.move_changed_passes

        def crash(program_id, member_ids, campaign_id=None):  # type: ignore[no-untyped-def]
            assert count(MemberMessage) == 4  # the batch's rows, not committed
            raise RuntimeError("worker killed")

        monkeypatch.setattr(campaigns.messaging, "move_changed_passes", crash)
        with pytest.raises(RuntimeError):
            campaigns.run_campaign(campaign_id, NOW)
        db.session.rollback()
        assert db.session.get(Campaign, campaign_id).cursor == first_cursor
        assert count(MemberMessage) == 2
        monkeypatch.setattr(campaigns.messaging, "move_changed_passes", real_move)
        assert campaigns.run_campaign(campaign_id, NOW) == "done"
        assert count(MemberMessage) == 7
        # Exactly one message per member.
        per_member = db.session.execute(
            select(MemberMessage.member_id, func.count()).group_by(
                MemberMessage.member_id
            )
        ).all()
        assert all(n == 1 for _, n in per_member)
        assert len(per_member) == 7


def test_quiet_hours_and_start_time_delay_sending(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        campaign = campaigns.create(
            program,
            {"texts": TEXTS, "segment": {"all": {}}, "state": "scheduled"},
            None,
        )
        later = campaigns.create(
            program, {"texts": TEXTS, "segment": {"all": {}}}, None
        )
        # Set directly: the API refuses start times before the real clock.
        later.start_at = NOW + timedelta(days=1, hours=2)
        later.state = "scheduled"
        db.session.commit()
        scheduler.run_due(QUIET)
        assert db.session.get(Campaign, campaign.id).state == "scheduled"
        assert count(MemberMessage) == 0
        # 09:30 in Moscow the next day: allowed; the later one waits for its time.
        morning = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
        scheduler.run_due(morning)
        assert db.session.get(Campaign, campaign.id).state == "done"
        assert db.session.get(Campaign, later.id).state == "scheduled"
        scheduler.run_due(datetime(2026, 11, 26, 14, 0, tzinfo=UTC))
        assert db.session.get(Campaign, later.id).state == "done"
        # Each campaign reached each of the 3 demo members once.
        assert count(MemberMessage) == 6


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # One ru/en text check for every service (app.services.checks.localized).
        ({"texts": {"en": "only English"}}, "texts.ru (the Russian text) is required"),
        ({"texts": {"ru": "  "}}, "texts.ru (the Russian text) is required"),
        ({"texts": {"ru": "x" * 151}}, "texts.ru: 1-150 characters"),
        ({"texts": {"ru": "a", "de": "b"}}, "texts languages: unknown de"),
        ({"texts": {"ru": "bell\x07"}}, "texts.ru must not contain control"),
        ({"start_at": "2020-01-01T10:00:00+03:00"}, "start_at is in the past"),
        ({"start_at": "2099-01-01T10:00:00"}, "needs a time zone"),
        ({"segment": {"tier": ["nope"]}}, "unknown tier(s)"),
        ({"colour": "red"}, "unknown colour"),
        ({"state": "done"}, "state on create"),
    ],
)
def test_bad_input_is_422_and_creates_nothing(
    app: Flask, client: FlaskClient, key: str, body: dict, message: str
) -> None:
    response = client.post(
        "/api/v1/campaigns",
        json={"texts": TEXTS, "segment": {"all": {}}, **body},
        headers=auth(key),
    )
    assert response.status_code == 422, response.json
    assert message in response.json["message"]
    assert set(response.json) == {"error", "message"}
    with app.app_context():
        assert count(Campaign) == 0
        assert count(AuditEntry) == 0


def test_patch_cancel_and_transitions(
    app: Flask, client: FlaskClient, key: str
) -> None:
    campaign = create(client, key, start_at="2099-01-01T10:00:00+03:00")
    path = f"/api/v1/campaigns/{campaign['id']}"
    patched = client.patch(
        path,
        json={"texts": {"ru": "Новый текст"}, "state": "scheduled"},
        headers=auth(key),
    )
    assert patched.status_code == 200
    assert patched.json["texts"] == {"ru": "Новый текст"}
    assert patched.json["state"] == "scheduled"
    assert patched.json["start_at"] == "2099-01-01T07:00:00+00:00"
    unscheduled = client.patch(path, json={"state": "draft"}, headers=auth(key))
    assert unscheduled.json["state"] == "draft"
    cancelled = client.delete(path, headers=auth(key))
    assert cancelled.json["state"] == "cancelled"
    again = client.delete(path, headers=auth(key))
    assert again.status_code == 409
    edit = client.patch(path, json={"name": "x"}, headers=auth(key))
    assert edit.status_code == 409
    assert client.get("/api/v1/campaigns/999", headers=auth(key)).status_code == 404
    with app.app_context():
        assert db.session.get(Campaign, campaign["id"]).state == "cancelled"


def test_cancel_stops_sending_between_batches(
    app: Flask, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaigns, "BATCH", 1)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        campaign = campaigns.create(
            program,
            {"texts": TEXTS, "segment": {"all": {}}, "state": "scheduled"},
            None,
        )
        db.session.commit()
        campaigns.run_campaign(campaign.id, NOW, max_batches=1)
        campaigns.cancel(db.session.get(Campaign, campaign.id), None)
        db.session.commit()
        assert campaigns.run_campaign(campaign.id, NOW) == "cancelled"
        assert count(MemberMessage) == 1


def test_another_programs_key_cannot_see_the_campaign(
    app: Flask, client: FlaskClient, key: str
) -> None:
    from tests.app.pos_support import other_program

    campaign = create(client, key)
    other_program(app)
    with app.app_context():
        other = db.session.scalar(select(Program).where(Program.slug == "other"))
        other_key = create_key("marketer", program=other).key
        db.session.commit()
    response = client.get(
        f"/api/v1/campaigns/{campaign['id']}", headers=auth(other_key)
    )
    assert response.status_code == 404


def test_pos_purchases_and_refunds_are_audited(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    from tests.app.pos_support import card, make_key
    from tests.app.test_pos_api import buy as sell

    pos = make_key(app)
    member = card(app, demo.passes[0].member_id)
    sale = sell(client, pos, member.barcode).json
    refund = client.post(
        f"/api/v1/pos/transactions/{sale['transaction_id']}/refund",
        headers={"Authorization": f"Bearer {pos}", "Idempotency-Key": "r1"},
    )
    assert refund.status_code == 200, refund.json
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [e.action for e in entries] == ["pos.purchase", "pos.refund"]
        target = f"pos_transaction:{sale['transaction_id']}"
        assert {e.target for e in entries} == {target}
        assert entries[0].role == "pos"
        assert entries[0].details["member_id"] == member.member_id
        assert entries[0].program_id == demo.program_id
        # No personal data in the log.
        assert "phone" not in entries[0].details


def test_while_the_tills_are_busy_a_campaign_sends_small_batches(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """A batch holds its members' rows and the program's tag row while it
    writes, and purchases need both: while the tills sell TILLS_BUSY
    purchases/s or more (read from the newest purchases), a campaign sends
    CAMPAIGN_BUSY_BATCH_SIZE members per batch instead, and still reaches
    everyone once."""
    from app.services import purchases
    from tests.app.pos_support import card, make_key
    from tests.app.test_pos_api import buy

    app.config.update(CAMPAIGN_BATCH_SIZE=5, CAMPAIGN_BUSY_BATCH_SIZE=2, TILLS_BUSY=1)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        for _ in range(8):
            add_member(program)
        campaign = campaigns.create(
            program,
            {
                "texts": TEXTS,
                "segment": {"all": {}},
                "state": "scheduled",
                "holdout_percent": 0,
            },
            None,
        )
        db.session.commit()
        campaign_id, members = campaign.id, count(Member)
        assert purchases.recent_rate() == 0.0
        assert campaigns.batch_size() == (5, False)

    # The tills sell: 50 purchases (a rate far above 1 per second).
    key, code = make_key(app), card(app, demo.passes[0].member_id).barcode
    for i in range(50):
        assert buy(client, key, code, receipt_id=f"B{i}").status_code == 201

    with app.app_context():
        assert purchases.recent_rate() >= 1
        assert campaigns.batch_size() == (2, True)
        assert campaigns.run_campaign(campaign_id, NOW, max_batches=1) == "sending"
        assert count(MemberMessage) == 2
        app.config["TILLS_BUSY"] = 0  # 0: batches never shrink
        assert campaigns.batch_size() == (5, False)
        assert campaigns.run_campaign(campaign_id, NOW, max_batches=1) == "sending"
        assert count(MemberMessage) == 7
        app.config["TILLS_BUSY"] = 1
        assert campaigns.run_campaign(campaign_id, NOW) == "done"
        per_member = db.session.execute(
            select(MemberMessage.member_id, func.count()).group_by(
                MemberMessage.member_id
            )
        ).all()
        assert len(per_member) == members
        assert all(n == 1 for _, n in per_member)
