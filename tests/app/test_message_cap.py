"""message_cap: at most N marketing messages per member in D days, across
campaigns and automations, by priority (back-in-stock, birthday, win-back,
campaigns); campaign progress counts who was held back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, MemberMessage, Program
from app.services import campaigns, messaging
from tests.app.campaign_support import add_member
from tests.app.pos_support import make_key
from tests.conftest import Demo

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 15:00 in Moscow: not quiet


def _send_campaign(program: Program, text: str) -> Campaign:
    campaign = campaigns.create(
        program,
        {"texts": {"ru": text}, "segment": {"all": {}}, "holdout_percent": 0},
        None,
    )
    campaigns.schedule(campaign, None)
    db.session.commit()
    campaigns.run_campaign(campaign.id, NOW)
    return db.session.get(Campaign, campaign.id)


def _messages(member_id: int) -> int:
    return db.session.scalar(
        select(func.count()).where(MemberMessage.member_id == member_id)
    )


def test_campaigns_stop_at_the_cap_and_count_who_was_held(
    app: Flask, demo: Demo
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        program.rules = {**program.rules, "message_cap": {"messages": 2, "days": 7}}
        member = add_member(program)
        db.session.commit()
        first = _send_campaign(program, "Первая")
        second = _send_campaign(program, "Вторая")
        third = _send_campaign(program, "Третья")
        assert (first.held_back, second.held_back) == (0, 0)
        assert third.held_back == 4  # everyone had 2 this week
        assert campaigns.progress(third)["held_back"] == 4
        assert _messages(member.id) == 2
        # A higher-priority message still goes: campaigns never crowd it out.
        sent = messaging.deliver_many(
            program,
            [member.id],
            kind="back_in_stock",
            source_key="restock:test",
            texts={"ru": "Пальто снова в наличии"},
        )
        assert list(sent) == [member.id]
        db.session.commit()
        assert _messages(member.id) == 3
        # Older messages fall out of the window.
        db.session.execute(
            MemberMessage.__table__.update().values(
                created_at=datetime.now(UTC) - timedelta(days=8)
            )
        )
        db.session.commit()
        fourth = _send_campaign(program, "Четвёртая")
        assert fourth.held_back == 0


def test_without_a_cap_nothing_is_held(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        for text in ("Раз", "Два", "Три"):
            assert _send_campaign(program, text).held_back == 0


def test_the_cap_is_a_rule_of_the_settings_api(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    auth = {"Authorization": f"Bearer {make_key(app, 'marketer')}"}
    cap = {"rules": {"message_cap": {"messages": 2, "days": 7}}}
    done = client.patch("/api/v1/program", json=cap, headers=auth)
    assert done.status_code == 200, done.json
    assert done.json["rules"]["message_cap"] == {"messages": 2, "days": 7}
    for bad in ({"messages": 0, "days": 7}, {"messages": 2}, 3):
        answer = client.patch(
            "/api/v1/program", json={"rules": {"message_cap": bad}}, headers=auth
        )
        assert answer.status_code == 422
    off = client.patch(
        "/api/v1/program", json={"rules": {"message_cap": None}}, headers=auth
    )
    assert off.json["rules"]["message_cap"] is None
