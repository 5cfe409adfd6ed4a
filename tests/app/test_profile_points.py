"""The `profile_points` rule (issue 17): points once for a completed profile
(name, e-mail, birthday, home store) saved from the card page, never twice,
also under double and concurrent submits; the pass follows."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import LedgerEntry, Member, Pass, Program
from app.services.passes import content_hash
from tests.app.marketing_support import auth, marketer_key
from tests.app.pos_support import assert_ledger_matches_balances
from tests.conftest import Demo
from tests.support.liveserver import live_server


def set_rule(app: Flask, program_id: int, points: int) -> None:
    with app.app_context():
        program = db.session.get(Program, program_id)
        program.rules = {**(program.rules or {}), "profile_points": points}
        db.session.commit()


def blank(app: Flask, member_id: int) -> tuple[str, str]:
    """The member with no e-mail, birthday or home store; (card token, a store id)."""
    with app.app_context():
        member = db.session.get(Member, member_id)
        member.email = None
        member.birthday = None
        member.preferred_store_id = None
        db.session.commit()
        return member.card_token, str(member.program.stores[0].id)


def complete_form(store: str) -> dict[str, str]:
    return {
        "name": "Ольга Иванова",
        "email": "olga@example.com",
        "birthday": "1990-05-17",
        "store": store,
        "marketing": "on",
    }


def bonuses(app: Flask, member_id: int) -> list[tuple[int, str]]:
    with app.app_context():
        return [
            (e.points, e.note)
            for e in db.session.scalars(
                select(LedgerEntry).where(
                    LedgerEntry.member_id == member_id,
                    LedgerEntry.idempotency_key == f"profile:{member_id}",
                )
            )
        ]


def points_of(app: Flask, member_id: int) -> int:
    with app.app_context():
        return db.session.get(Member, member_id).points


def test_points_once_for_a_completed_profile_and_the_pass_follows(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    member_id = demo.passes[2].member_id
    token, store = blank(app, member_id)
    before = points_of(app, member_id)
    # Off by default: a complete profile earns nothing, the page promises nothing.
    assert 'id="profile-points"' not in client.get(f"/c/{token}?lang=ru").text
    form = complete_form(store)
    assert client.post(f"/c/{token}/profile", data=form).status_code == 303
    assert bonuses(app, member_id) == []

    # On, for a member whose profile is not complete yet.
    token, store = blank(app, member_id)
    set_rule(app, demo.program_id, 50)
    page = client.get(f"/c/{token}?lang=ru").text
    assert "получите 50 баллов, один раз" in page
    with app.app_context():
        tag = db.session.scalar(
            select(Pass.update_tag).where(Pass.member_id == member_id)
        )
    # Without a birthday the profile is not complete: nothing yet.
    partial = {**complete_form(store), "birthday": ""}
    assert client.post(f"/c/{token}/profile", data=partial).status_code == 303
    assert bonuses(app, member_id) == []
    assert (
        client.post(f"/c/{token}/profile", data=complete_form(store)).status_code == 303
    )
    assert bonuses(app, member_id) == [(50, "profile")]
    assert points_of(app, member_id) == before + 50
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        # The pass was refreshed with the new balance on it.
        assert pass_.update_tag > tag
        assert pass_.content_hash == content_hash(pass_)
        entry = db.session.scalar(
            select(LedgerEntry).where(LedgerEntry.note == "profile")
        )
        assert entry.kind == "bonus"
    page = client.get(f"/c/{token}?lang=ru").text
    assert 'id="profile-points"' not in page

    # Saving again, or with a bigger rule later, grants nothing more.
    set_rule(app, demo.program_id, 70)
    for _ in range(2):
        client.post(f"/c/{token}/profile", data=complete_form(store))
    assert bonuses(app, member_id) == [(50, "profile")]
    assert points_of(app, member_id) == before + 50
    assert_ledger_matches_balances(app)


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    with live_server(app) as url:
        yield url


def test_concurrent_submits_grant_the_points_once(
    app: Flask, demo: Demo, server: str
) -> None:
    member_id = demo.passes[1].member_id
    token, store = blank(app, member_id)
    set_rule(app, demo.program_id, 40)
    before = points_of(app, member_id)
    body = urllib.parse.urlencode(complete_form(store)).encode()
    count = 8
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def submit() -> None:
        barrier.wait()
        try:
            with opener.open(f"{server}/c/{token}/profile", data=body, timeout=60) as r:
                statuses.append(r.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)

    threads = [threading.Thread(target=submit) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [303] * count
    assert bonuses(app, member_id) == [(40, "profile")]
    assert points_of(app, member_id) == before + 40
    assert_ledger_matches_balances(app)


def test_the_rule_is_a_setting(app: Flask, client: FlaskClient, demo: Demo) -> None:
    key = marketer_key(app, demo.program_id)
    assert (
        client.get("/api/v1/program", headers=auth(key)).json["rules"]["profile_points"]
        == 0
    )
    changed = client.patch(
        "/api/v1/program", json={"rules": {"profile_points": 75}}, headers=auth(key)
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["rules"]["profile_points"] == 75
    for bad in (-1, 1.5, "10", True, 100_001):
        refused = client.patch(
            "/api/v1/program",
            json={"rules": {"profile_points": bad}},
            headers=auth(key),
        )
        assert refused.status_code == 422, bad
        assert refused.json["error"] == "invalid_rules"
    assert (
        client.get("/api/v1/program", headers=auth(key)).json["rules"]["profile_points"]
        == 75
    )
