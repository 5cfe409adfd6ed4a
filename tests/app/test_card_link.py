"""A phone number never opens a card: known phones get their link by SMS/e-mail
(issue 14 §1), through the worker, within an hourly limit; sign-up codes; new links."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Member, OutboundMessage, Pass, Program, PushDelivery, SignupCode
from app.models.base import utcnow
from app.push.messages import SmsRu, build_message_senders
from app.push.senders import FAIL, RETRY, SENT, build_senders
from app.push.worker import Settings, Stats, Worker
from app.services.demo import seed_demo
from tests.support.sms_server import API_ID, SmsRuStandIn
from tests.support.smtp_server import SmtpStandIn

PHONE, DIGITS = "+79123456789", "79123456789"


@pytest.fixture
def sms() -> Iterator[SmsRuStandIn]:
    server = SmsRuStandIn()
    yield server
    server.stop()


@pytest.fixture
def smtp(pki_dir: Path) -> Iterator[SmtpStandIn]:
    server = SmtpStandIn(pki_dir).start()
    yield server
    server.stop()


@pytest.fixture
def msg_app(
    make_app: Callable[[dict], Flask],
    pki_dir: Path,
    sms: SmsRuStandIn,
    smtp: SmtpStandIn,
) -> Flask:
    """The app with SMS.ru and SMTP pointed at the loopback stand-ins."""
    app = make_app(
        {
            "SMS_PROVIDER": "smsru",
            "SMS_API_URL": sms.url,
            "SMS_API_ID": API_ID,
            "SMTP_URL": smtp.url,
            "SMTP_CA_FILE": str(pki_dir / "ca.pem"),
            "MAIL_FROM": "Северная Мода <card@severnaya.test>",
            "PUSH_RETRY_BASE_SECONDS": "0.01",
            "PUSH_POLL_SECONDS": "0.02",
            "PUSH_MAX_ATTEMPTS": "3",
            "PUSH_GIVE_UP_SECONDS": "0",
        }
    )
    with app.app_context():
        seed_demo()
        db.session.commit()
    return app


def drain(app: Flask) -> Stats:
    """Run the worker's SMS and e-mail channels until nothing is queued."""
    with app.app_context():
        db.session.remove()
        worker = Worker(
            db.engine,
            build_message_senders(app.config, app),
            Settings.from_config(app.config),
        )
        # In a thread of its own: Playwright's sync API may own this thread's loop.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, worker.run(until_idle=True)).result()


def form(**changes: str) -> dict[str, str]:
    data = {
        "name": "Мария Петрова",
        "phone": "+7 (912) 345-67-89",
        "email": "maria@example.ru",
        "birthday": "1992-05-17",
        "city": "Москва",
        "language": "ru",
        "consent": "on",
    }
    data.update(changes)
    return data


def member_by_phone(app: Flask, phone: str = PHONE) -> Member:
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.phone == phone))
        assert member is not None
        db.session.expunge(member)
        return member


def outbound(app: Flask) -> list[OutboundMessage]:
    with app.app_context():
        rows = list(
            db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.id))
        )
        db.session.expunge_all()
        return rows


def test_known_phone_sign_up_shows_nothing_of_the_card(msg_app: Flask) -> None:
    client = msg_app.test_client()
    first = client.post("/join", data=form())
    assert first.status_code == 303  # a new phone gets its card at once
    member = member_by_phone(msg_app)
    assert outbound(msg_app) == []  # nothing sent for a new card

    again = client.post(
        "/join", data=form(name="Злоумышленник", phone="8 912 345 67 89", email="")
    )
    assert again.status_code == 200
    assert "Location" not in again.headers
    page = again.text
    for secret in (
        member.card_token,
        "Мария",
        "maria@",
        member.card_number,
        member.card_number[-4:],
        "/c/",
        "Баллы",
    ):
        assert secret not in page, secret
    assert "Мы отправили ссылку на вашу карту на +7 ••• •••-67-89" in page
    assert "эл. почта" in page  # e-mail mentioned without saying whether there is one
    # The card's link is queued for its phone and its e-mail, not sent from here.
    rows = outbound(msg_app)
    assert [(r.channel, r.address, r.sent_at) for r in rows] == [
        ("sms", PHONE, None),
        ("email", "maria@example.ru", None),
    ]
    with msg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member)) == 4


def test_card_link_goes_by_smsru_and_smtp(
    msg_app: Flask, sms: SmsRuStandIn, smtp: SmtpStandIn
) -> None:
    client = msg_app.test_client()
    client.post("/join", data=form())
    member = member_by_phone(msg_app)
    client.post("/join", data=form(name="Кто-то"))
    stats = drain(msg_app)
    assert stats.counters["sent"] == 2

    url = f"https://wallet.test/c/{member.card_token}"
    assert len(sms.requests) == 1
    request = sms.requests[0]
    assert request["api_id"] == API_ID
    assert request["to"] == DIGITS
    assert request["json"] == "1"
    assert url in request["msg"]
    assert request["msg"].startswith("Северная Мода")

    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail.recipients == ["maria@example.ru"]
    assert mail.tls
    assert mail.user == "mailer"
    parsed = message_from_bytes(mail.data, policy=policy.default)
    assert "ссылка на вашу карту" in str(parsed["Subject"])
    assert "card@severnaya.test" in str(parsed["From"])
    body = parsed.get_body()
    assert body is not None
    assert url in body.get_content()

    # Once out, the address and the text (the link is a secret) are not kept.
    rows = outbound(msg_app)
    assert all(r.sent_at and r.address is None and r.body is None for r in rows)
    with msg_app.app_context():
        statuses = db.session.scalars(
            select(PushDelivery.status).where(
                PushDelivery.channel.in_(["sms", "email"])
            )
        ).all()
        assert sorted(statuses) == ["sent", "sent"]


def test_fourth_request_in_an_hour_sends_nothing_but_looks_the_same(
    msg_app: Flask, sms: SmsRuStandIn
) -> None:
    client = msg_app.test_client()
    client.post("/join", data=form(email=""))
    pages = [
        client.post("/lost-card", data={"phone": "8 912 345-67-89"}) for _ in range(4)
    ]
    assert {p.status_code for p in pages} == {200}
    assert len({p.text for p in pages}) == 1  # the refusal looks like a success
    assert len(outbound(msg_app)) == 3
    drain(msg_app)
    assert len(sms.requests) == 3
    # The same limit holds across /join and the lost-card form.
    assert client.post("/join", data=form(email="")).text == pages[0].text
    assert len(outbound(msg_app)) == 3
    # An hour later the phone can have its link again.
    with msg_app.app_context():
        db.session.execute(
            update(OutboundMessage).values(created_at=utcnow() - timedelta(minutes=61))
        )
        db.session.commit()
    client.post("/lost-card", data={"phone": PHONE})
    assert len(outbound(msg_app)) == 4


def test_lost_card_for_an_unknown_phone_looks_the_same(
    msg_app: Flask, sms: SmsRuStandIn
) -> None:
    client = msg_app.test_client()
    client.post("/join", data=form())
    known = client.post("/lost-card", data={"phone": PHONE})
    unknown = client.post("/lost-card", data={"phone": "+7 912 000-67-89"})
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert len(outbound(msg_app)) == 2  # the known card's SMS and e-mail only
    page = client.get("/join")
    assert 'id="lost-card"' in page.text
    assert "Потеряли карту?" in page.text
    assert "Потеряли карту?" in client.get("/lost-card").text
    bad = client.post("/lost-card", data={"phone": "12"})
    assert bad.status_code == 422
    assert "Укажите номер телефона" in bad.text
    english = client.post("/lost-card?lang=en", data={"phone": PHONE})
    assert "We have sent the link to your card to +7 ••• •••-67-89" in english.text


def test_lost_card_without_a_form_token_shows_the_form_again(msg_app: Flask) -> None:
    msg_app.config["WTF_CSRF_ENABLED"] = True
    response = msg_app.test_client().post("/lost-card", data={"phone": PHONE})
    assert response.status_code == 400
    assert "Страница устарела" in response.text
    assert 'id="lost-form"' in response.text
    assert outbound(msg_app) == []


def test_lost_card_form_is_rate_limited(msg_app: Flask) -> None:
    msg_app.config["RATELIMIT_LOST_CARD"] = "2 per minute"
    client = msg_app.test_client()
    for _ in range(2):
        assert client.post("/lost-card", data={"phone": PHONE}).status_code == 200
    assert client.post("/lost-card", data={"phone": PHONE}).status_code == 429


def test_smsru_errors_are_retried_or_failed(msg_app: Flask, sms: SmsRuStandIn) -> None:
    client = msg_app.test_client()
    client.post("/join", data=form(email=""))
    sms.answers = [
        503,
        {"status": "ERROR", "status_code": 220, "status_text": "Сервис недоступен"},
    ]
    client.post("/lost-card", data={"phone": PHONE})
    stats = drain(msg_app)
    assert stats.counters["retried"] == 2
    assert stats.counters["sent"] == 1
    assert len(sms.requests) == 3
    # A number SMS.ru refuses for good is not tried again.
    sms.answers = [
        {
            "status": "OK",
            "status_code": 100,
            "sms": {DIGITS: {"status": "ERROR", "status_code": 207}},
        }
    ]
    client.post("/lost-card", data={"phone": PHONE})
    stats = drain(msg_app)
    assert stats.counters["failed"] == 1
    assert len(sms.requests) == 4
    last = outbound(msg_app)[-1]
    assert last.sent_at is None
    assert last.address is None
    assert last.body is None


def test_a_link_queued_before_erasure_is_not_sent(
    msg_app: Flask, sms: SmsRuStandIn, smtp: SmtpStandIn
) -> None:
    client = msg_app.test_client()
    client.post("/join", data=form())
    card = member_by_phone(msg_app).card_token
    client.post("/lost-card", data={"phone": PHONE})
    assert client.post(f"/c/{card}/erase", data={"confirm": "yes"}).status_code == 303
    drain(msg_app)
    assert sms.requests == []
    assert smtp.messages == []
    assert all(r.address is None and r.body is None for r in outbound(msg_app))
    with msg_app.app_context():
        reasons = db.session.scalars(
            select(PushDelivery.last_reason).where(PushDelivery.channel == "sms")
        ).all()
        assert reasons == ["member erased"]


def test_smsru_answers_are_classified() -> None:
    ok = {"status": "OK", "sms": {DIGITS: {"status": "OK", "status_code": 100}}}
    assert SmsRu.classify(ok, DIGITS).kind == SENT
    assert SmsRu.classify(ok, "70000000000").kind == RETRY
    money = {"status": "ERROR", "status_code": 201}
    assert SmsRu.classify(money, DIGITS).kind == RETRY
    bad_number = {
        "status": "OK",
        "sms": {DIGITS: {"status": "ERROR", "status_code": 202}},
    }
    assert SmsRu.classify(bad_number, DIGITS).kind == FAIL
    assert SmsRu.classify([], DIGITS).kind == RETRY
    with pytest.raises(ValueError, match="SMS_API_ID"):
        SmsRu("https://sms.ru", None)


def test_console_provider_logs_the_text_as_development(
    make_app: Callable[[dict], Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app({"SMS_PROVIDER": "console", "SMTP_URL": None})
    with app.app_context():
        seed_demo()
        db.session.commit()
        assert "sms" in build_senders(app.config, app)
        assert "email" not in build_senders(app.config, app)
    client = app.test_client()
    client.post("/join", data=form())
    member = member_by_phone(app)
    client.post("/lost-card", data={"phone": PHONE})
    assert [r.channel for r in outbound(app)] == ["sms"]  # no SMTP: no e-mail
    with caplog.at_level(logging.INFO):
        drain(app)
    lines = [
        r.getMessage() for r in caplog.records if "DEVELOPMENT SMS" in r.getMessage()
    ]
    assert len(lines) == 1
    assert member.card_token in lines[0]
    assert DIGITS not in lines[0]
    assert "+7*******89" in lines[0]


def test_smsru_never_logs_the_text_or_the_phone(
    msg_app: Flask, sms: SmsRuStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    client = msg_app.test_client()
    client.post("/join", data=form())
    member = member_by_phone(msg_app)
    sms.answers = [
        {"status": "OK", "sms": {DIGITS: {"status": "ERROR", "status_code": 202}}}
    ]
    with caplog.at_level(logging.DEBUG):
        client.post("/lost-card", data={"phone": PHONE})
        drain(msg_app)
    # Our loggers (the SMTP stand-in logs what it receives at DEBUG).
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("app"))
    assert "failed for good" in text
    assert member.card_token not in text
    assert DIGITS not in text
    assert "maria@example.ru" not in text


def test_new_link_retires_the_old_one_and_moves_the_pass(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        seed_demo()
        db.session.commit()
    client.post("/join", data=form())
    member = member_by_phone(app)
    old = member.card_token
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member.id))
        assert pass_ is not None
        pass_id, serial, tag = pass_.id, pass_.serial_number, pass_.update_tag
        token = pass_.authentication_token
        pass_type = pass_.program.pass_type_identifier

    def back_link() -> str:
        latest = client.get(
            f"/wallet/v1/passes/{pass_type}/{serial}",
            headers={"Authorization": f"ApplePass {token}"},
        )
        assert latest.status_code == 200
        pass_json = json.loads(
            zipfile.ZipFile(io.BytesIO(latest.data)).read("pass.json")
        )
        links = [f["value"] for f in pass_json["storeCard"]["backFields"]]
        return next(v for v in links if "/c/" in str(v) and "#" not in str(v))

    assert back_link() == f"https://wallet.test/c/{old}"
    page = client.get(f"/c/{old}")
    assert "Выпустить новую ссылку" in page.text
    moved = client.post(f"/c/{old}/new-link")
    assert moved.status_code == 303
    new = member_by_phone(app).card_token
    assert new != old
    assert moved.headers["Location"].startswith(f"/c/{new}")
    assert "старая больше не открывается" in client.get(moved.headers["Location"]).text

    gone = client.get(f"/c/{old}")
    assert gone.status_code == 404
    assert "Такой страницы нет" in gone.text
    assert client.get(f"/c/{old}/pass.pkpass").status_code == 404
    assert client.get(f"/c/{old}/data.json").status_code == 404
    assert client.post(f"/c/{old}/new-link").status_code == 404
    assert back_link() == f"https://wallet.test/c/{new}"
    with app.app_context():
        moved_pass = db.session.get(Pass, pass_id)
        assert moved_pass is not None
        assert moved_pass.update_tag > tag


# -- One-time codes at sign-up ------------------------------------------------------
def _otp_on(app: Flask) -> None:
    with app.app_context():
        program = db.session.scalar(select(Program))
        assert program is not None
        program.rules = {**(program.rules or {}), "signup_otp": True}
        db.session.commit()


def _code(sms: SmsRuStandIn) -> str:
    text = sms.requests[-1]["msg"]
    digits = [word.strip(".") for word in text.split() if word.strip(".").isdigit()]
    assert len(digits[-1]) == 6, text
    return digits[-1]


def test_sign_up_code_when_the_program_wants_verified_phones(
    msg_app: Flask, sms: SmsRuStandIn
) -> None:
    _otp_on(msg_app)
    client = msg_app.test_client()
    asked = client.post("/join", data=form())
    assert asked.status_code == 200
    assert 'id="code-form"' in asked.text
    assert "+7 ••• •••-67-89" in asked.text
    assert 'value="Мария Петрова"' in asked.text  # the form rides along
    with msg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member)) == 3
        row = db.session.scalar(select(SignupCode))
        assert row is not None
        assert len(row.code_hash) == 64
    drain(msg_app)
    code = _code(sms)
    with msg_app.app_context():
        assert code not in (db.session.scalar(select(SignupCode.code_hash)) or "")

    wrong = "000000" if code != "000000" else "111111"
    bad = client.post("/join", data=form(code=wrong))
    assert bad.status_code == 422
    assert "Код не подходит" in bad.text
    good = client.post("/join", data=form(code=code))
    assert good.status_code == 303
    assert good.headers["Location"].startswith("/c/")
    member = member_by_phone(msg_app)
    assert member.name == "Мария Петрова"
    # A used code does not work twice (and the phone now has its card anyway).
    again = client.post("/join", data=form(code=code))
    assert again.status_code == 200
    assert "/c/" not in again.text


def test_sign_up_code_attempts_and_expiry(msg_app: Flask, sms: SmsRuStandIn) -> None:
    _otp_on(msg_app)
    client = msg_app.test_client()
    client.post("/join", data=form())
    drain(msg_app)
    code = _code(sms)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert client.post("/join", data=form(code=wrong)).status_code == 422
    spent = client.post("/join", data=form(code=code))
    assert spent.status_code == 422
    assert "запросите новый" in spent.text

    resent = client.post("/join", data=form(resend="1", code=""))
    assert 'id="code-form"' in resent.text
    drain(msg_app)
    fresh = _code(sms)
    with msg_app.app_context():
        db.session.execute(
            update(SignupCode)
            .where(SignupCode.used_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    expired = client.post("/join", data=form(code=fresh))
    assert expired.status_code == 422
    assert "Код устарел" in expired.text
    with msg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member)) == 3
    # Codes count towards the phone's hourly limit: a third request sends nothing.
    client.post("/join", data=form(resend="1"))
    client.post("/join", data=form(resend="1"))
    assert len([r for r in outbound(msg_app) if r.purpose == "signup_code"]) == 3


def test_sign_up_without_the_rule_needs_no_code(msg_app: Flask) -> None:
    response = msg_app.test_client().post("/join", data=form(code="123456"))
    assert response.status_code == 303
    assert outbound(msg_app) == []
