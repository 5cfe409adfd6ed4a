"""Fallback channels (issue 20): campaign and automation messages by SMS or e-mail
to members without a wallet card, through the outbound outbox and the worker,
against the SMS.ru stand-in and a real SMTP server; the launch estimate (SMS.ru
/sms/cost), progress, results by channel, quiet hours, the cap, retries."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select, update

from app.extensions import db
from app.models import Campaign, Member, OutboundMessage, Program, PushDelivery
from app.models.outbound import FALLBACK
from app.services import campaigns, messaging, results
from tests.app.campaign_support import add_member, register_device, save_google
from tests.app.pos_support import make_key
from tests.app.test_card_link import drain, msg_app, sms, smtp  # noqa: F401
from tests.support.sms_server import SmsRuStandIn, parts_of
from tests.support.smtp_server import SmtpStandIn

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 15:00 in Moscow: not quiet
TEXT = "Скидка 20% на пальто до воскресенья"


def _program(mode: str) -> Program:
    program = db.session.scalar(select(Program).order_by(Program.id))
    assert program is not None
    # No quiet hours: the worker keeps them when it sends (drain runs at the
    # real time), which test_fallback_quiet.py tests with a fixed clock.
    program.rules = {**program.rules, "fallback_channels": mode, "quiet_hours": [0, 0]}
    # Only the members a test adds: the demo's own go quiet.
    db.session.execute(update(Member).values(marketing_off_at=NOW))
    return program


def _campaign(program: Program, text: str = TEXT, **extra: Any) -> Campaign:
    body = {
        "texts": {"ru": text},
        "segment": {"all": {}},
        "holdout_percent": 0,
        **extra,
    }
    campaign = campaigns.create(program, body, None)
    db.session.commit()
    return campaign


def _send(campaign: Campaign, now: datetime = NOW) -> Campaign:
    campaigns.schedule(campaign, None)
    db.session.commit()
    campaigns.run_campaign(campaign.id, now)
    found = db.session.get(Campaign, campaign.id)
    assert found is not None
    return found


def _outbound(member_id: int) -> list[OutboundMessage]:
    return list(
        db.session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.member_id == member_id)
            .order_by(OutboundMessage.id)
        )
    )


def test_the_wallet_first_then_sms_or_email_to_those_it_cannot_reach(
    msg_app: Flask,  # noqa: F811
    sms: SmsRuStandIn,  # noqa: F811
    smtp: SmtpStandIn,  # noqa: F811
) -> None:
    with msg_app.app_context():
        program = _program("email_then_sms")
        apple = add_member(program)
        register_device(apple)
        google = add_member(program, email="g@example.ru")
        save_google(google)
        by_sms = add_member(program)
        by_email = add_member(program, email="olga@example.ru")
        refused = add_member(program, marketing_off_at=NOW)
        db.session.commit()
        ids = {m.id: m.phone for m in (apple, google, by_sms, by_email, refused)}
        sms_phone, sms_token = by_sms.phone, by_sms.card_token
        campaign = _send(_campaign(program))
        assert campaign.state == "done"
        # Wallet holders get no SMS or e-mail; no consent: nothing at all.
        for member in (apple.id, google.id, refused.id):
            assert _outbound(member) == []
        (text_message,) = _outbound(by_sms.id)
        (mail,) = _outbound(by_email.id)
        assert (text_message.channel, mail.channel) == ("sms", "email")
        assert text_message.purpose == mail.purpose == FALLBACK
        assert text_message.campaign_id == campaign.id
        progress = campaigns.progress(campaign)
        assert progress["sms"]["queued"] == progress["email"]["queued"] == 1
    drain(msg_app)
    sent = [r for r in sms.requests if r["to"] in {p[1:] for p in ids.values()}]
    assert [r["to"] for r in sent] == [sms_phone[1:]]
    assert sent[0]["msg"].startswith(TEXT)
    assert f"/c/{sms_token}" in sent[0]["msg"]
    (received,) = [m for m in smtp.messages if "olga@example.ru" in m.recipients]
    mail = message_from_bytes(received.data, policy=policy.default).get_body()
    assert mail is not None
    assert TEXT in mail.get_content()
    parts = parts_of(sent[0]["msg"])
    with msg_app.app_context():
        campaign = db.session.get(Campaign, campaign.id)
        progress = campaigns.progress(campaign)
        assert progress["sms"] == {
            "queued": 0,
            "sent": 1,
            "failed": 0,
            "cost": 1.5 * parts,
        }
        assert progress["email"] == {"queued": 0, "sent": 1, "failed": 0}
        # Results: reached by channel, and the SMS cost counted in the cost.
        body = results.campaign_results(campaign)
        assert body["reached_by_channel"]["sms"] == 1
        assert body["reached_by_channel"]["email"] == 1
        assert body["reached_by_channel"]["wallet"] == 2
        assert body["groups"]["treatment"]["reached"] == 4
        assert body["sms_cost"] == 1.5 * parts
        assert body["cost"] == 1.5 * parts
        # Sent: the address and the text are gone.
        row = db.session.get(OutboundMessage, text_message.id)
        assert row.address is None
        assert row.body is None
        assert row.cost_kopecks == 150 * parts


def test_none_sends_nothing_and_automations_need_consent(
    msg_app: Flask,  # noqa: F811
) -> None:
    with msg_app.app_context():
        program = _program("none")
        member = add_member(program)
        db.session.commit()
        _send(_campaign(program))
        assert _outbound(member.id) == []
        # sms: a back-in-stock message (asked for, so it goes to a member who
        # switched offers off) reaches the wallet only, never their phone.
        program.rules = {**program.rules, "fallback_channels": "sms"}
        off = add_member(program, marketing_off_at=NOW)
        sent = messaging.deliver_many(
            program,
            [member.id, off.id],
            kind="back_in_stock",
            source_key="restock:1",
            texts={"ru": "Пальто снова в наличии"},
            now=NOW,
        )
        db.session.commit()
        assert set(sent) == {member.id, off.id}
        assert [m.channel for m in _outbound(member.id)] == ["sms"]
        assert _outbound(off.id) == []
        # The welcome never goes by SMS (the card link was just sent).
        messaging.deliver_many(
            program,
            [member.id],
            kind="welcome",
            source_key="welcome",
            texts={"ru": "Добро пожаловать"},
            now=NOW,
        )
        db.session.commit()
        assert len(_outbound(member.id)) == 1


def test_quiet_hours_defer_the_sms(
    msg_app: Flask,  # noqa: F811
    sms: SmsRuStandIn,  # noqa: F811
) -> None:
    with msg_app.app_context():
        program = _program("sms")
        # Quiet right now, until two hours from now (program's time zone).
        hour = datetime.now(ZoneInfo(program.timezone)).hour
        program.rules = {**program.rules, "quiet_hours": [hour, (hour + 2) % 24]}
        member = add_member(program)
        db.session.commit()
        messaging.deliver_many(
            program,
            [member.id],
            kind="back_in_stock",
            source_key="restock:2",
            texts={"ru": "Пальто снова в наличии"},
        )
        db.session.commit()
        (message,) = _outbound(member.id)
        job = db.session.scalar(
            select(PushDelivery).where(PushDelivery.push_token == str(message.id))
        )
        assert job is not None
        assert job.channel == "sms"
        ends = messaging.next_send_time(program, datetime.now(UTC))
        assert job.next_attempt_at > datetime.now(UTC) + timedelta(minutes=30)
        assert abs(job.next_attempt_at - ends) < timedelta(minutes=1)
        # When the quiet hours are over, it goes (the worker checks them again
        # when it sends).
        job.next_attempt_at = datetime.now(UTC)
        program.rules = {**program.rules, "quiet_hours": [0, 0]}
        db.session.commit()
        phone = member.phone
    drain(msg_app)
    assert [r["to"] for r in sms.requests] == [phone[1:]]


def test_the_cap_holds_back_the_sms_too(
    msg_app: Flask,  # noqa: F811
) -> None:
    with msg_app.app_context():
        program = _program("sms")
        program.rules = {**program.rules, "message_cap": {"messages": 1, "days": 7}}
        member = add_member(program)
        db.session.commit()
        first = _send(_campaign(program, "Первая"))
        second = _send(_campaign(program, "Вторая"))
        assert second.held_back == 1
        (only,) = _outbound(member.id)
        assert only.campaign_id == first.id
        assert campaigns.progress(second)["sms"]["queued"] == 0


def test_retries_when_the_provider_fails_then_gives_up(
    msg_app: Flask,  # noqa: F811
    sms: SmsRuStandIn,  # noqa: F811
) -> None:
    with msg_app.app_context():
        program = _program("sms")
        once = add_member(program).id
        db.session.commit()
        campaign_id = _send(_campaign(program)).id
    sms.answers = [503]  # busy once: retried, then sent
    drain(msg_app)
    with msg_app.app_context():
        (row,) = _outbound(once)
        assert row.sent_at is not None
        job = db.session.scalar(
            select(PushDelivery).where(PushDelivery.push_token == str(row.id))
        )
        assert job.status == "sent"
        assert job.attempts == 2
        program = db.session.get(
            Program, db.session.get(Campaign, campaign_id).program_id
        )
        never = add_member(program).id
        # The second campaign goes to `never` only.
        db.session.execute(
            update(Member).where(Member.id == once).values(marketing_off_at=NOW)
        )
        db.session.commit()
        second_id = _send(_campaign(program, "Вторая")).id
    # Out of money on every attempt (SMS.ru 201, retried): given up, nothing lost
    # silently: progress counts it failed.
    sms.answers = [{"status": "ERROR", "status_code": 201}] * 3
    drain(msg_app)
    with msg_app.app_context():
        second = db.session.get(Campaign, second_id)
        assert campaigns.progress(second)["sms"]["failed"] == 1
        (row,) = _outbound(never)
        # Not sent; its address is forgotten after two days (KEEP_UNSENT).
        assert row.sent_at is None


def test_the_estimate_prices_one_sample_per_length(
    msg_app: Flask,  # noqa: F811
    sms: SmsRuStandIn,  # noqa: F811
) -> None:
    with msg_app.app_context():
        program = _program("sms")
        for _ in range(5):
            add_member(program)
        for _ in range(2):
            register_device(add_member(program))
        add_member(program, language="en")
        campaign = _campaign(program, TEXT, texts={"ru": TEXT, "en": "20% off coats"})
        campaign_id = campaign.id
    key = make_key(msg_app, "marketer")
    client = msg_app.test_client()
    answer = client.get(
        f"/api/v1/campaigns/{campaign_id}/estimate",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert (body["sms"], body["email"], body["wallet"]) == (6, 0, 2)
    # One /sms/cost request per text length (Russian: 2 parts; English: 1).
    assert len(sms.cost_requests) == 2
    priced = {parts_of(r["msg"]): r for r in sms.cost_requests}
    assert set(priced) == {1, 2}
    assert body["sms_parts"] == 5 * 2 + 1
    assert body["cost"] == 1.5 * (5 * 2 + 1)
    assert body["priced"] is True
    assert body["development"] is False
    # The provider down: no price, no 500.
    sms.cost_answers = [500, 500]
    down = client.get(
        f"/api/v1/campaigns/{campaign_id}/estimate",
        headers={"Authorization": f"Bearer {key}"},
    ).json
    assert down["priced"] is False
    assert down["cost"] is None
    assert down["sms"] == 6


def test_console_provider_estimates_zero_marked_development(
    app: Flask,
) -> None:
    from app.services.demo import seed_demo

    with app.app_context():
        seed_demo()
        program = _program("sms")
        add_member(program)
        campaign = _campaign(program)
        body = campaigns.estimate(campaign, NOW)
        assert body["sms"] == 1
        assert body["cost"] == 0
        assert body["development"] is True


def test_bad_fallback_settings_are_refused(
    app: Flask,
) -> None:
    from app.services.demo import seed_demo

    with app.app_context():
        seed_demo()
        db.session.commit()
    key = make_key(app, "marketer")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    for bad in ("fax", 3, None, ["sms"]):
        answer = client.patch(
            "/api/v1/program", json={"rules": {"fallback_channels": bad}}, headers=auth
        )
        assert answer.status_code == 422, bad
        assert answer.json["error"] == "invalid_rules"
    # E-mail without SMTP_URL on the server: refused, nothing changed.
    answer = client.patch(
        "/api/v1/program",
        json={"rules": {"fallback_channels": "email_then_sms"}},
        headers=auth,
    )
    assert answer.status_code == 422
    assert "SMTP_URL" in answer.json["message"]
    shown = client.get("/api/v1/program", headers=auth).json
    assert shown["rules"]["fallback_channels"] == "none"
    done = client.patch(
        "/api/v1/program", json={"rules": {"fallback_channels": "sms"}}, headers=auth
    )
    assert done.status_code == 200
    assert done.json["rules"]["fallback_channels"] == "sms"


def test_automations_each_text_and_one_member_paths(
    msg_app: Flask,  # noqa: F811
    sms: SmsRuStandIn,  # noqa: F811
) -> None:
    with msg_app.app_context():
        program = _program("sms")
        lapsed, wallet, birthday = (add_member(program) for _ in range(3))
        register_device(wallet)
        db.session.commit()
        # A win-back (deliver_each: each member their own text and source).
        sent = messaging.deliver_each(
            program,
            {
                lapsed.id: ("winback:a", {"ru": "Мы скучаем, Анна"}),
                wallet.id: ("winback:b", {"ru": "Мы скучаем, Борис"}),
            },
            kind="win_back",
            now=NOW,
        )
        # A birthday (deliver: one member).
        messaging.deliver(
            birthday,
            kind="birthday",
            source_key="birthday:2026",
            texts={"ru": "С днём рождения!"},
            now=NOW,
        )
        db.session.commit()
        assert set(sent) == {lapsed.id, wallet.id}
        (own,) = _outbound(lapsed.id)
        assert own.body.startswith("Мы скучаем, Анна ")
        assert own.source_key == "winback:a"
        assert _outbound(wallet.id) == []
        (card,) = _outbound(birthday.id)
        assert card.body.startswith("С днём рождения! ")
        phones = {lapsed.phone[1:], birthday.phone[1:]}
    drain(msg_app)
    assert {r["to"] for r in sms.requests} == phones


def test_automation_results_say_how_members_were_reached(
    msg_app: Flask,  # noqa: F811
    sms: SmsRuStandIn,  # noqa: F811
    smtp: SmtpStandIn,  # noqa: F811
) -> None:
    """The birthday automation's results: reached per channel and the SMS
    cost, by the campaigns' own definition (`results.with_reach`), in JSON and
    CSV; a period before it ran has none."""
    from app.services import automations

    now = datetime.now(UTC)
    with msg_app.app_context():
        program = _program("email_then_sms")
        today = now.astimezone(ZoneInfo(program.timezone)).date()
        # A leap year, so 29 February exists too.
        birthday = today.replace(year=1992)
        wallet = add_member(program, birthday=birthday)
        register_device(wallet)
        by_sms = add_member(program, birthday=birthday)
        by_email = add_member(program, birthday=birthday, email="vera@example.ru")
        row = automations.automation(program, "birthday")
        automations.configure(row, {"settings": {"holdout_percent": 0, "hour": 0}})
        db.session.commit()
        result = automations.run(program, "birthday", now, force=True)
        db.session.commit()
        assert result["sent"] == 3
        assert [m.channel for m in _outbound(by_sms.id)] == ["sms"]
        assert [m.channel for m in _outbound(by_email.id)] == ["email"]
    drain(msg_app)
    with msg_app.app_context():
        (text_message,) = _outbound(by_sms.id)
        parts = text_message.segments
        assert parts is not None
    key = make_key(msg_app, "marketer")
    client = msg_app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    body = client.get("/api/v1/automations/birthday/results", headers=headers).json
    assert body["groups"]["treatment"]["members"] == 3
    assert body["groups"]["treatment"]["reached"] == 3
    assert body["reached_by_channel"] == {"wallet": 1, "sms": 1, "email": 1}
    assert body["sms_cost"] == 1.5 * parts
    # The SMS cost counts in the automation's cost, as for campaigns.
    assert body["cost"] >= 1.5 * parts
    lines = list(
        csv.reader(
            io.StringIO(
                client.get(
                    "/api/v1/automations/birthday/results.csv", headers=headers
                ).get_data(as_text=True)
            )
        )
    )
    start = lines.index(["channel", "reached"])
    assert lines[start + 1 : start + 4] == [
        ["wallet", "1"],
        ["sms", "1"],
        ["email", "1"],
    ]
    assert ["sms_cost", str(1.5 * parts)] in lines
    # Before it ran: nobody, no channel.
    empty = client.get(
        "/api/v1/automations/birthday/results?from=2020-01-01&to=2020-01-31",
        headers=headers,
    ).json
    assert empty["reached_by_channel"] == {"wallet": 0, "sms": 0, "email": 0}
    assert empty["sms_cost"] == 0
