"""/admin/campaigns as a marketer reads it: audience and reachable counts, the
start in the program's time zone, the state's reason; the overview names the
program."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Program
from app.services import campaigns
from app.services.auth import create_key
from tests.app.campaign_support import add_member, register_device
from tests.conftest import Demo

MOSCOW = ZoneInfo("Europe/Moscow")


def _tomorrow_at(hour: int) -> datetime:
    day = datetime.now(MOSCOW).date() + timedelta(days=2)
    return datetime.combine(day, time(hour), MOSCOW)


def _sign_in(app: Flask, client: FlaskClient, demo: Demo) -> None:
    with app.app_context():
        key = create_key("marketer", program=db.session.get(Program, demo.program_id))
        db.session.commit()
    assert client.post("/admin/login", data={"key": key.key}).status_code == 302


def test_list_shows_audience_start_and_reason(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    late = _tomorrow_at(23)  # in the quiet hours (21:00-09:00 Moscow)
    noon = _tomorrow_at(12)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        register_device(add_member(program), "apple")
        body = {"texts": {"ru": "Скидка 20% на пальто"}, "segment": {"all": {}}}
        quiet = campaigns.create(
            program, {**body, "name": "Ночью", "start_at": late.isoformat()}, None
        )
        campaigns.schedule(quiet, None)
        campaigns.create(
            program, {**body, "name": "Днём", "start_at": noon.isoformat()}, None
        )
        db.session.commit()
    _sign_in(app, client, demo)
    html = client.get("/admin/campaigns?lang=ru").get_data(as_text=True)
    rows = {
        re.search(r'class="name">([^<]+)', row)[1]: row
        for row in html.split("<tr data-campaign")[1:]
    }
    assert set(rows) == {"Ночью", "Днём"}
    quiet_row, noon_row = rows["Ночью"], rows["Днём"]
    # 4 members (the demo's 3 and one more), 1 with the card in a wallet.
    assert "4 участника" in quiet_row
    assert "доступны сейчас: 1" in quiet_row
    assert 'data-audience="4" data-reachable="1"' in quiet_row
    assert f"{late.day} " in quiet_row
    assert "23:00 МСК" in quiet_row
    # Quiet hours end at 09:00 Moscow the next morning.
    assert "ждёт окончания тихих часов — отправка в" in quiet_row
    assert "09:00 МСК" in quiet_row
    assert "Скидка 20% на пальто" in quiet_row
    assert "начнётся " in noon_row
    assert "12:00 МСК" in noon_row
    assert "Время программы (МСК)." in html
    assert 'data-timezone="Europe/Moscow"' in html


def test_finished_campaign_shows_frozen_counts_and_when(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        body = {"texts": {"ru": "Привет"}, "segment": {"all": {}}, "name": "Прошла"}
        done = campaigns.create(program, body, None)
        done.state = "done"
        done.targeted, done.reachable = 7, 0
        done.finished_at = datetime.now(UTC) - timedelta(days=3)
        db.session.commit()
    _sign_in(app, client, demo)
    html = client.get("/admin/campaigns?lang=ru").get_data(as_text=True)
    assert "7 участников" in html
    assert "доступны сейчас: 0" in html
    assert "завершена " in html


def test_overview_names_the_program(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    _sign_in(app, client, demo)
    html = client.get("/admin/?lang=ru").get_data(as_text=True)
    assert 'id="program-name">Программа: <strong>Северная Мода</strong>' in html
