"""/admin's charts (and their CSV) and /api/v1/stats count the same things the
same way (`app.services.stats`): on generated data with the cases that used to
split them (an erased member, an uninstalled pass, a push retried long after it
was sent), every shared figure agrees day by day, and has the documented value."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import LedgerEntry, Member, Pass, PushDelivery
from app.services import ledger
from app.services.privacy import erase_member
from tests.app.marketing_support import auth, marketer_key, new_member
from tests.app.test_admin import sign_in
from tests.app.test_admin_catalog import csrf_app
from tests.app.test_messaging import register
from tests.conftest import Demo

__all__ = ["csrf_app"]  # the fixture, used here

# The /admin CSV column -> the /api/v1/stats series with the same meaning.
SHARED = {
    "signups": "signups",
    "installs_apple": "apple_installs",
    "installs_android": "android_installs",
    "installs_google": "google_saves",
    "pushes_sent": "pushes_sent",
    "pushes_failed": "pushes_failed",
    "redemptions": "redemptions",
}


def _generate(app: Flask, client: FlaskClient, demo: Demo) -> dict[str, datetime]:
    now = datetime.now(UTC).replace(microsecond=0)
    days = {
        "today": now,
        "three": now - timedelta(days=3),
        "five": now - timedelta(days=5),
    }
    # Two devices install the first pass; one of them removes it again.
    register(client, demo, 0)
    register(client, demo, 1)
    p = demo.passes[1]
    removed = client.delete(
        f"/wallet/v1/devices/dev-1/registrations/{demo.pass_type}/{p.serial}",
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    assert removed.status_code == 200
    # Sign-ups on other days; one of those members is erased since.
    new_member(app, demo.program_id, "+79990004001", joined=days["three"])
    gone = new_member(app, demo.program_id, "+79990004002", joined=days["five"])
    with app.app_context():
        erase_member(db.session.get(Member, gone))
        pass_id = db.session.scalar(
            select(Pass.id).where(Pass.program_id == demo.program_id)
        )
        # A push sent five days ago whose row was touched today (a later
        # coalesced change, a lease): it was sent five days ago.
        db.session.add_all(
            [
                PushDelivery(
                    channel="apns",
                    status="sent",
                    pass_id=pass_id,
                    topic=demo.pass_type,
                    push_token="aa" * 32,
                    created_at=days["five"],
                    sent_at=days["five"],
                    updated_at=days["today"],
                ),
                PushDelivery(
                    channel="apns",
                    status="dropped",
                    pass_id=pass_id,
                    topic=demo.pass_type,
                    push_token="bb" * 32,
                    created_at=days["five"],
                    updated_at=days["three"],
                ),
            ]
        )
        member = db.session.get(Member, demo.passes[0].member_id)
        ledger.post(member, "bonus", 500, note="test")
        entry = ledger.post(member, "redeem", -200, note="test")
        entry.created_at = days["three"]
        db.session.commit()
        assert db.session.get(LedgerEntry, entry.id).kind == "redeem"
    return days


def test_admin_charts_and_the_stats_api_agree(
    csrf_app: Flask, client: FlaskClient, demo: Demo
) -> None:
    days = _generate(csrf_app, client, demo)
    key = marketer_key(csrf_app, demo.program_id)
    api = client.get("/api/v1/stats?days=30", headers=auth(key))
    assert api.status_code == 200
    series = {row["date"]: row for row in api.get_json()["series"]}
    sign_in(client, key)
    exported = client.get("/admin/export.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [row["day"] for row in rows] == list(series)
    for row in rows:
        for column, name in SHARED.items():
            assert int(row[column]) == series[row["day"]][name], (row["day"], column)
    # And the figures are the documented ones.
    by_day = {row["day"]: row for row in rows}
    today, three, five = (
        days[k].date().isoformat() for k in ("today", "three", "five")
    )
    assert int(by_day[five]["signups"]) == 1  # erased since: still a sign-up
    assert int(by_day[three]["signups"]) == 1
    assert int(by_day[today]["installs_apple"]) == 2  # one was removed since
    assert series[today]["apple_uninstalls"] == 1
    assert int(by_day[five]["pushes_sent"]) == 1  # dated when sent
    assert int(by_day[today]["pushes_sent"]) == 0
    assert int(by_day[three]["pushes_failed"]) == 1
    assert int(by_day[three]["redemptions"]) == 1
