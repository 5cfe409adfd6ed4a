"""Sign-up at the till (issue 20): POST /api/v1/pos/members issues the card and
sends its link by SMS; a known phone gets its link and the answer is the same."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, Member, OutboundMessage
from tests.app.marketing_support import auth, marketer_key
from tests.app.pos_support import make_key
from tests.conftest import Demo

BODY = {"phone": "+7 916 555-44-33", "name": "Ирина Орлова", "consent": True}


def outbound_count(app: Flask) -> int:
    with app.app_context():
        return int(
            db.session.scalar(select(func.count()).select_from(OutboundMessage)) or 0
        )


def test_new_and_known_phones_get_the_same_answer_and_an_sms(
    app: Flask, demo: Demo
) -> None:
    client = app.test_client()
    pos = make_key(app)
    first = client.post("/api/v1/pos/members", json=BODY, headers=auth(pos))
    assert first.status_code == 202, first.get_json()
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.phone == "+79165554433"))
        assert member is not None
        assert (member.name, member.consent_version) == (
            "Ирина Орлова",
            "pos:msk-atrium",
        )
        message = db.session.scalar(select(OutboundMessage))
        assert message is not None
        assert (message.channel, message.member_id) == ("sms", member.id)
        assert member.card_token in (message.body or "")
    again = client.post(
        "/api/v1/pos/members",
        json={**BODY, "name": "Кто-то другой"},
        headers=auth(pos),
    )
    assert again.status_code == 202
    assert again.get_json() == first.get_json()
    assert "card" not in str(first.get_json())
    assert outbound_count(app) == 2  # the link again, to the same phone
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(Member)
                .where(Member.phone == "+79165554433")
            )
            == 1
        )
        created = db.session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "pos.member_signup")
        ).all()
        assert [d["created"] for d in created] == [True, False]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({**BODY, "consent": False}, "consent_required"),
        ({k: v for k, v in BODY.items() if k != "consent"}, "consent_required"),
        ({**BODY, "phone": "12"}, "invalid_member"),
        ({**BODY, "name": ""}, "invalid_member"),
        ({**BODY, "card": "1"}, "invalid_body"),
        ({**BODY, "language": "de"}, "invalid_language"),
    ],
)
def test_bad_bodies_change_nothing(
    app: Flask, demo: Demo, body: dict, code: str
) -> None:
    client = app.test_client()
    response = client.post(
        "/api/v1/pos/members", json=body, headers=auth(make_key(app))
    )
    assert response.status_code == 422
    assert response.get_json()["error"] == code
    assert outbound_count(app) == 0


def test_a_marketer_key_cannot_sign_up_at_the_till(app: Flask, demo: Demo) -> None:
    key = marketer_key(app, demo.program_id)
    response = app.test_client().post(
        "/api/v1/pos/members", json=BODY, headers=auth(key)
    )
    assert response.status_code == 403
