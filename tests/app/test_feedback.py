"""Feedback and service recovery: sampled purchases ask for a rating (at most
once per N days), the pass links to the one-page form, an answer once (a quick
change updates it), the recovery queue resolved with points or an offer and a
message, win-back requests, and the stats on known data."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import passes
from app.extensions import db
from app.models import (
    ApiKey,
    AuditEntry,
    Feedback,
    LedgerEntry,
    Member,
    MemberMessage,
    MemberOffer,
    Pass,
    PosTransaction,
    Program,
    Store,
    WebhookDelivery,
)
from app.models.base import utcnow
from app.services import feedback
from app.services import passes as pass_service
from app.services.errors import Invalid
from tests.app.marketing_support import auth, marketer_key
from tests.app.pos_support import assert_ledger_matches_balances, card, make_key
from tests.conftest import Demo


@pytest.fixture
def mkey(app: Flask, demo: Demo) -> str:
    return marketer_key(app, demo.program_id)


@pytest.fixture
def pos(app: Flask, demo: Demo) -> str:
    return make_key(app)


def send(client: FlaskClient, method: str, key: str, path: str, body: object):
    return client.open(
        path,
        method=method,
        data=json.dumps(body),
        content_type="application/json",
        headers=auth(key),
    )


def turn_on(client: FlaskClient, mkey: str, **changes: object) -> None:
    body = {"enabled": True, "sample_percent": 100, **changes}
    response = send(client, "PATCH", mkey, "/api/v1/feedback/settings", body)
    assert response.status_code == 200, response.json


def buy(client: FlaskClient, key: str, code: str, idem: str | None = None):
    body = {"code": code, "amount": "499.90", "receipt_id": "R-1"}
    return client.post(
        "/api/v1/pos/transactions",
        data=json.dumps(body),
        content_type="application/json",
        headers={
            "Authorization": f"Bearer {key}",
            "Idempotency-Key": idem or str(uuid.uuid4()),
        },
    )


def requests_of(app: Flask, member_id: int) -> list[Feedback]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(Feedback)
                .where(Feedback.member_id == member_id)
                .order_by(Feedback.id)
            )
        )
        db.session.expunge_all()
        return rows


def pass_json(app: Flask, member_id: int) -> dict:
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        # The stored hash is the real one: the pass moved when the link came.
        assert pass_.content_hash == pass_service.content_hash(pass_)
        return passes.build_pass_json(*pass_service.pass_inputs(pass_))


def back_keys(app: Flask, member_id: int) -> dict[str, dict]:
    built = pass_json(app, member_id)
    return {f["key"]: f for f in built["storeCard"]["backFields"]}


def ask(client: FlaskClient, app: Flask, mkey: str, pos: str, member_id: int) -> str:
    turn_on(client, mkey)
    assert buy(client, pos, card(app, member_id).barcode).status_code == 201
    return requests_of(app, member_id)[-1].token


# -- settings and sampling ---------------------------------------------------------


def test_settings_are_checked_and_audited(
    client: FlaskClient, mkey: str, app: Flask
) -> None:
    got = client.get("/api/v1/feedback/settings", headers=auth(mkey))
    assert got.json == {
        "enabled": False,
        "sample_percent": 10,
        "every_days": 30,
        "answer_days": 14,
    }
    for body in (
        {"enabled": "yes"},
        {"sample_percent": 101},
        {"every_days": 0},
        {"sample_percent": 5.5},
        {"nope": 1},
    ):
        response = send(client, "PATCH", mkey, "/api/v1/feedback/settings", body)
        assert response.status_code == 422, body
        assert response.json["error"] == "invalid_feedback"
    turn_on(client, mkey, every_days=7)
    got = client.get("/api/v1/feedback/settings", headers=auth(mkey)).json
    assert got["enabled"] is True
    assert got["every_days"] == 7
    with app.app_context():
        assert db.session.scalar(
            select(AuditEntry.id).where(AuditEntry.action == "program.feedback")
        )


def test_sampling_is_a_deterministic_hash_of_the_purchase() -> None:
    keys = [f"key-{n}" for n in range(2000)]
    first = [feedback.sampled(10, 1, k) for k in keys]
    assert first == [feedback.sampled(10, 1, k) for k in keys]  # same answer
    assert 100 < sum(first) < 300  # about 10 %
    assert not any(feedback.sampled(0, 1, k) for k in keys)
    assert all(feedback.sampled(100, 1, k) for k in keys)
    # Another store's purchase with the same key is another purchase.
    assert first != [feedback.sampled(10, 2, k) for k in keys]
    # A larger share keeps the smaller share's purchases in.
    kept = [k for k, f in zip(keys, first, strict=True) if f]
    assert all(feedback.sampled(20, 1, k) for k in kept)


def test_off_or_unsampled_purchases_ask_nothing(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    member = demo.passes[0].member_id
    assert buy(client, pos, card(app, member).barcode).status_code == 201
    turn_on(client, mkey, sample_percent=10)
    with app.app_context():
        store_id = db.session.scalar(select(Store.id).where(Store.code == "msk-atrium"))
    out = next(
        k
        for k in (f"sample-key-{n:04d}" for n in range(200))
        if not feedback.sampled(10, store_id, k)
    )
    inside = next(
        k
        for k in (f"sample-key-{n:04d}" for n in range(200))
        if feedback.sampled(10, store_id, k)
    )
    assert buy(client, pos, card(app, member).barcode, idem=out).status_code == 201
    assert requests_of(app, member) == []
    assert buy(client, pos, card(app, member).barcode, idem=inside).status_code == 201
    assert len(requests_of(app, member)) == 1


def test_a_sampled_purchase_asks_once_per_n_days_and_the_pass_links(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    member = demo.passes[0].member_id
    assert "feedback" not in back_keys(app, member)
    card_page = client.get(f"/c/{demo.passes[0].card_token}").get_data(as_text=True)
    assert 'id="feedback-link"' not in card_page
    turn_on(client, mkey)
    made = buy(client, pos, card(app, member).barcode, idem="first-purchase-key")
    assert made.status_code == 201
    rows = requests_of(app, member)
    assert len(rows) == 1
    row = rows[0]
    assert row.kind == "purchase"
    assert row.transaction_id == made.json["transaction_id"]
    assert row.store_id is not None
    assert len(row.token) >= 32
    field = back_keys(app, member)["feedback"]
    assert field["value"].endswith(f"/f/{row.token}")
    # The card page links to the same rating page.
    page = client.get(f"/c/{demo.passes[0].card_token}").get_data(as_text=True)
    assert f'href="/f/{row.token}' in page
    assert 'id="feedback-link"' in page
    assert f'href="{field["value"]}"' in field["attributedValue"]
    # Google: a link and a message.
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member))
        view = pass_service.member_view(pass_)
        links = passes.google.feedback_links(view)
        assert any(link["uri"] == field["value"] for link in links)
        messages = passes.google.offer_messages(view)
        assert any(field["value"] in m["body"] for m in messages)
    # A retry of the same purchase asks nothing more.
    again = buy(client, pos, card(app, member).barcode, idem="first-purchase-key")
    assert again.status_code == 201
    # Within every_days: no new request.
    assert buy(client, pos, card(app, member).barcode).status_code == 201
    assert len(requests_of(app, member)) == 1
    # After it: asked again.
    with app.app_context():
        old = db.session.get(Feedback, row.id)
        old.created_at = utcnow() - timedelta(days=31)
        db.session.commit()
    assert buy(client, pos, card(app, member).barcode).status_code == 201
    assert len(requests_of(app, member)) == 2


# -- the rating page ---------------------------------------------------------------


def test_the_page_shows_the_store_and_purchase_and_nothing_personal(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    member = demo.passes[0].member_id
    token = ask(client, app, mkey, pos, member)
    with app.app_context():
        person = db.session.get(Member, member)
        name, phone, number = person.name, person.phone, person.card_number
        store = db.session.get(Store, requests_of(app, member)[0].store_id).name
    page = client.get(f"/f/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert store in html
    assert "499,90" in html
    assert 'name="score"' in html
    for personal in (name, phone, number):
        assert personal not in html
    english = client.get(f"/f/{token}?lang=en").get_data(as_text=True)
    assert "How likely are you to recommend us" in english


def test_bad_and_expired_links_get_a_friendly_page(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    member = demo.passes[0].member_id
    assert client.get("/f/../../etc").status_code == 404
    for token in ("x", "a" * 40, "a" * 32):
        response = client.get(f"/f/{token}")
        assert response.status_code == 404
        assert 'id="feedback-gone"' in response.get_data(as_text=True)
    token = ask(client, app, mkey, pos, member)
    with app.app_context():
        row = db.session.scalar(select(Feedback).where(Feedback.token == token))
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    response = client.get(f"/f/{token}")
    assert response.status_code == 410
    assert 'id="feedback-gone"' in response.get_data(as_text=True)
    posted = client.post(f"/f/{token}", data={"score": "9"})
    assert posted.status_code == 410
    assert requests_of(app, member)[0].score is None


def test_answering_twice_keeps_one_answer_and_the_pass_drops_the_link(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    member = demo.passes[0].member_id
    app.config["WEBHOOK_ALLOW_LOOPBACK"] = True  # nothing is delivered here
    webhook = send(
        client,
        "POST",
        mkey,
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": ["feedback.received"]},
    )
    assert webhook.status_code == 201, webhook.json
    token = ask(client, app, mkey, pos, member)
    for bad in (
        {"score": "11"},
        {"score": "x"},
        {},
        {"score": "5", "comment": "y" * 1001},
    ):
        response = client.post(f"/f/{token}", data=bad)
        assert response.status_code == 422, bad
    assert requests_of(app, member)[0].answered_at is None
    first = client.post(f"/f/{token}", data={"score": "3", "comment": "Долго ждал"})
    assert first.status_code == 302
    assert "thanks=1" in first.headers["Location"]
    assert "feedback" not in back_keys(app, member)
    # A second submit soon after updates the same answer.
    second = client.post(f"/f/{token}", data={"score": "4", "comment": "Долго"})
    assert second.status_code == 302
    rows = requests_of(app, member)
    assert len(rows) == 1
    assert (rows[0].score, rows[0].comment) == (4, "Долго")
    # Later, the answer stands.
    with app.app_context():
        row = db.session.get(Feedback, rows[0].id)
        row.answered_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    late = client.post(f"/f/{token}", data={"score": "10"})
    assert late.status_code == 409
    assert requests_of(app, member)[0].score == 4
    with app.app_context():
        events = db.session.scalars(select(WebhookDelivery.event)).all()
    assert events == ["feedback.received"]  # the first answer only


# -- recovery ------------------------------------------------------------------------


def low_score(client, app, mkey, pos, member: int, score: int = 2) -> int:
    token = ask(client, app, mkey, pos, member)
    assert client.post(f"/f/{token}", data={"score": str(score)}).status_code == 302
    return requests_of(app, member)[-1].id


def test_resolve_with_points_posts_a_bonus_and_a_message(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    member = demo.passes[0].member_id
    feedback_id = low_score(client, app, mkey, pos, member)
    queue = client.get("/api/v1/feedback?status=unresolved", headers=auth(mkey)).json
    assert [i["id"] for i in queue["items"]] == [feedback_id]
    path = f"/api/v1/feedback/{feedback_id}/resolve"
    for body, status in (
        ({"points": 100}, 422),  # no message
        ({"message": "Простите"}, 422),  # neither points nor offer
        ({"points": 100, "offer_id": 1, "message": "x"}, 422),
        ({"points": 0, "message": "Простите"}, 422),
        ({"points": "100", "message": "Простите"}, 422),
        ({"points": 100, "message": "x" * 151}, 422),
        ({"offer_id": 99999, "message": "Простите"}, 422),
    ):
        response = send(client, "POST", mkey, path, body)
        assert response.status_code == status, (body, response.json)
    assert (
        send(
            client,
            "POST",
            mkey,
            "/api/v1/feedback/99999/resolve",
            {"points": 1, "message": "x"},
        ).status_code
        == 404
    )
    with app.app_context():
        before = db.session.get(Member, member).points
    done = send(client, "POST", mkey, path, {"points": 150, "message": "Простите нас!"})
    assert done.status_code == 200, done.json
    assert done.json["resolution"] == {"points": 150, "message": "Простите нас!"}
    assert done.json["resolved_at"]
    with app.app_context():
        assert db.session.get(Member, member).points == before + 150
        entry = db.session.scalar(
            select(LedgerEntry).where(
                LedgerEntry.idempotency_key == f"feedback:{feedback_id}"
            )
        )
        assert (entry.kind, entry.points) == ("bonus", 150)
        message = db.session.scalar(
            select(MemberMessage).where(
                MemberMessage.source_key == f"feedback:{feedback_id}"
            )
        )
        assert message.body.startswith("Простите нас!")
        assert db.session.scalar(
            select(AuditEntry.id).where(AuditEntry.action == "feedback.resolve")
        )
    assert_ledger_matches_balances(app)
    # Once only; the queue is empty.
    again = send(client, "POST", mkey, path, {"points": 150, "message": "x"})
    assert again.status_code == 409
    assert again.json["error"] == "already_resolved"
    queue = client.get("/api/v1/feedback?status=unresolved", headers=auth(mkey)).json
    assert queue["items"] == []


def test_resolve_with_an_offer_issues_an_instance(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    member = demo.passes[0].member_id
    offer = send(
        client,
        "POST",
        mkey,
        "/api/v1/offers",
        {
            "kind": "gift",
            "title": {"ru": "Кофе в подарок"},
            "valid_days": 30,
            "min_amount": 0,
        },
    )
    assert offer.status_code == 201, offer.json
    feedback_id = low_score(client, app, mkey, pos, member, score=6)
    done = send(
        client,
        "POST",
        mkey,
        f"/api/v1/feedback/{feedback_id}/resolve",
        {"offer_id": offer.json["id"], "message": "Кофе за наш счёт"},
    )
    assert done.status_code == 200, done.json
    with app.app_context():
        instance = db.session.scalar(
            select(MemberOffer).where(MemberOffer.member_id == member)
        )
        assert instance.offer_id == offer.json["id"]
        assert instance.source == f"manual:feedback:{feedback_id}"
    assert done.json["resolution"]["member_offer_id"] == instance.id


def test_only_low_scores_are_resolved(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    member = demo.passes[0].member_id
    feedback_id = low_score(client, app, mkey, pos, member, score=7)
    response = send(
        client,
        "POST",
        mkey,
        f"/api/v1/feedback/{feedback_id}/resolve",
        {"points": 10, "message": "x"},
    )
    assert response.status_code == 409
    assert response.json["error"] == "not_low_score"


def test_list_filters_are_checked(client: FlaskClient, mkey: str) -> None:
    for query in ("status=nope", "kind=x", "limit=0", "limit=x", "store_id=-1"):
        response = client.get(f"/api/v1/feedback?{query}", headers=auth(mkey))
        assert response.status_code == 422, query


# -- stats on known data ---------------------------------------------------------------


def test_stats_on_known_data(
    app: Flask, demo: Demo, client: FlaskClient, mkey: str, pos: str
) -> None:
    now = utcnow()
    with app.app_context():
        key_id = db.session.scalar(select(ApiKey.id).where(ApiKey.role == "pos"))
        program = db.session.get(Program, demo.program_id)
        stores = db.session.scalars(
            select(Store).where(Store.program_id == program.id).order_by(Store.id)
        ).all()
        a, b = stores[0], stores[1]
        members = [p.member_id for p in demo.passes]
        n = 0

        def row(
            member,
            store,
            score,
            *,
            answered_days=None,
            resolved_hours=None,
            kind="purchase",
        ):
            nonlocal n
            n += 1
            answered = (
                now - timedelta(days=answered_days)
                if answered_days is not None
                else None
            )
            db.session.add(
                Feedback(
                    program_id=program.id,
                    member_id=member,
                    store_id=store.id if store else None,
                    kind=kind,
                    source=f"test:{n}",
                    token=f"token-{n:032d}",
                    created_at=now - timedelta(days=100),
                    expires_at=now + timedelta(days=1),
                    score=score,
                    comment="",
                    answered_at=answered,
                    resolved_at=answered + timedelta(hours=resolved_hours)
                    if resolved_hours is not None
                    else None,
                )
            )

        # Store A: 10, 9, 8, 3 -> (2 - 1) / 4 = 25.0; store B: 0, 6 -> -100.0
        row(members[0], a, 10, answered_days=1)
        row(members[1], a, 9, answered_days=1)
        row(members[2], a, 8, answered_days=1)
        row(members[0], a, 3, answered_days=70, resolved_hours=2)
        row(members[1], b, 0, answered_days=70)
        row(members[2], b, 6, answered_days=70, resolved_hours=10)
        row(members[0], a, None)  # asked, not answered
        row(members[1], None, None, kind="winback")
        # Member 0 bought again 10 days after their low score; member 1 after 61.
        for member, days_after in ((members[0], 10), (members[1], 61)):
            db.session.add(
                PosTransaction(
                    program_id=program.id,
                    member_id=member,
                    store_id=a.id,
                    channel="pos",
                    api_key_id=key_id,
                    idempotency_key=f"k{member}",
                    fingerprint="x",
                    receipt_id="r",
                    currency="RUB",
                    amount_kopecks=10000,
                    redeemed=0,
                    earned=0,
                    response={},
                    created_at=now - timedelta(days=70 - days_after),
                )
            )
        db.session.commit()
        a_id, b_id = a.id, b.id
        stats = feedback.stats(program, now)
    assert stats["asked"] == 7
    assert stats["answered"] == 6
    assert stats["response_rate"] == round(6 * 100 / 7, 1)
    assert stats["nps"] == round((2 - 3) * 100 / 6, 1)
    by_store = {s["store_id"]: s for s in stats["nps_by_store"]}
    assert by_store[a_id]["nps"] == 25.0
    assert by_store[a_id]["answers"] == 4
    assert by_store[b_id]["nps"] == -100.0
    assert stats["low_scores"] == 3
    assert stats["resolved"] == 2
    assert stats["unresolved"] == 1
    assert stats["median_resolve_hours"] == 6.0
    assert stats["repurchase"]["resolved"] == {
        "low_scorers": 2,
        "repurchased": 1,
        "rate": 50.0,
    }
    assert stats["repurchase"]["unresolved"] == {
        "low_scorers": 1,
        "repurchased": 0,
        "rate": 0.0,
    }
    assert stats["winback"] == {"asked": 1, "answered": 0}
    # Two weeks (1 and 70 days ago), both within the last 12.
    assert [w["answers"] for w in stats["nps_by_week"]] == [3, 3]
    assert stats["nps_by_week"][0]["nps"] == -100.0
    assert stats["nps_by_week"][1]["nps"] == round(200 / 3, 1)  # 10, 9, 8
    # The API answers the same numbers.
    api = client.get("/api/v1/feedback/stats", headers=auth(mkey)).json
    assert api["nps_by_store"] == json.loads(json.dumps(stats["nps_by_store"]))
    assert api["repurchase"] == stats["repurchase"]


def test_token_shape_is_unguessable(app: Flask) -> None:
    with app.app_context():
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", feedback.secrets.token_urlsafe(24))


# -- /admin/feedback and Russian-only pages ------------------------------------


def test_admin_page_settings_queue_and_one_click_recovery(
    app: Flask, client: FlaskClient, demo: Demo, mkey: str, pos: str
) -> None:
    from tests.app.test_admin import sign_in
    from tests.app.test_admin_catalog import post, text
    from tests.support.english import page_english

    member = demo.passes[0].member_id
    feedback_id = low_score(client, app, mkey, pos, member, score=1)
    with app.app_context():
        token = requests_of(app, member)[0].token
    client.post(f"/f/{token}", data={"score": "1", "comment": "Грубый кассир"})
    app.config["WTF_CSRF_ENABLED"] = True
    sign_in(client, marketer_key(app, demo.program_id))
    page = text(client.get("/admin/feedback"))
    assert "Отзывы" in page
    assert "Грубый кассир" in page
    assert f'id="fb-{feedback_id}"' in page
    assert page_english(page) == []
    # Bad settings: refused in Russian, nothing saved.
    bad = post(
        client,
        "/admin/feedback",
        {
            "enabled": "on",
            "sample_percent": "200",
            "every_days": "30",
            "answer_days": "14",
        },
        "/admin/feedback",
    )
    assert bad.status_code == 422
    assert "Проверьте поля" in text(bad)
    good = post(
        client,
        "/admin/feedback",
        {
            "enabled": "on",
            "sample_percent": "25",
            "every_days": "60",
            "answer_days": "7",
        },
        "/admin/feedback",
    )
    assert good.status_code == 302
    with app.app_context():
        rules = db.session.get(Program, demo.program_id).rules["feedback"]
    assert (rules["sample_percent"], rules["every_days"]) == (25, 60)
    # A bad resolve: refused, still queued.
    path = f"/admin/feedback/{feedback_id}/resolve"
    refused = post(
        client, path, {"points": "0", "message": "Простите"}, "/admin/feedback"
    )
    assert refused.status_code == 422
    assert f'id="fb-{feedback_id}"' in text(refused)
    done = post(
        client, path, {"points": "200", "message": "Простите нас"}, "/admin/feedback"
    )
    assert done.status_code == 302
    page = text(client.get("/admin/feedback"))
    assert f'id="fb-{feedback_id}"' not in page
    assert 'id="feedback-queue-empty"' in page
    assert page_english(page) == []
    with app.app_context():
        row = db.session.get(Feedback, feedback_id)
        assert row.resolution["points"] == 200
        assert row.resolved_at is not None


def test_rating_page_in_russian_shows_no_english(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    from tests.support.english import page_english

    member = demo.passes[0].member_id
    token = ask(client, app, mkey, pos, member)
    found = []
    for response in (
        client.get(f"/f/{token}"),
        client.post(f"/f/{token}", data={"score": "12"}),
        client.get("/f/" + "b" * 32),
    ):
        found += page_english(response.get_data(as_text=True))
    client.post(f"/f/{token}", data={"score": "8"})
    found += page_english(client.get(f"/f/{token}?thanks=1").get_data(as_text=True))
    assert found == []


# -- win-back: «почему вы перестали заходить?» -----------------------------------


def test_win_back_messages_can_link_to_the_rating_page(
    app: Flask, client: FlaskClient, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from app.services import automations
    from tests.app.marketing_support import new_member, purchase_at

    monkeypatch.setitem(automations.DEFAULTS["win_back"], "holdout_percent", 0)
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    member = new_member(app, demo.program_id, "+79990000401", joined=start)
    purchase_at(app, member, start, 1)  # one purchase: lapsed after 60 days
    other = new_member(app, demo.program_id, "+79990000402", joined=start)
    purchase_at(app, other, start, 2)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        row = automations.automation(program, "win_back")
        with pytest.raises(Invalid):
            automations.configure(row, {"settings": {"feedback_link": "yes"}})
        automations.configure(row, {"settings": {"feedback_link": True}})
        db.session.commit()

    def run(day: datetime) -> None:
        with app.app_context():
            program = db.session.get(Program, demo.program_id)
            automations.run(program, "win_back", day, force=True)
            db.session.commit()

    run(start + timedelta(days=61))
    rows = requests_of(app, member)
    assert [(r.kind, r.transaction_id, r.store_id) for r in rows] == [
        ("winback", None, None)
    ]
    with app.app_context():
        body = db.session.scalar(
            select(MemberMessage.body).where(MemberMessage.member_id == member)
        )
        assert db.session.get(Member, member).feedback_token == rows[0].token
    assert f"/f/{rows[0].token}" in body
    assert "Почему вы перестали заходить?" in body
    assert len(requests_of(app, other)) == 1
    # Once per lapse: a later run asks nothing more.
    run(start + timedelta(days=62))
    assert len(requests_of(app, member)) == 1
    # The page asks why (and is reachable while the link lasts).
    with app.app_context():
        fresh = db.session.get(Feedback, rows[0].id)
        fresh.expires_at = utcnow() + timedelta(days=1)
        db.session.commit()
    page = client.get(f"/f/{rows[0].token}").get_data(as_text=True)
    assert "Почему вы перестали заходить?" in page
    assert 'id="feedback-purchase"' not in page


def test_win_back_without_the_option_asks_nothing(
    app: Flask, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from app.services import automations
    from tests.app.marketing_support import new_member, purchase_at

    monkeypatch.setitem(automations.DEFAULTS["win_back"], "holdout_percent", 0)
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    member = new_member(app, demo.program_id, "+79990000403", joined=start)
    purchase_at(app, member, start, 1)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        automations.run(program, "win_back", start + timedelta(days=61), force=True)
        db.session.commit()
        assert db.session.scalar(
            select(MemberMessage.id).where(MemberMessage.member_id == member)
        )
    assert requests_of(app, member) == []


def test_the_data_download_has_the_ratings_and_erasure_drops_the_comments(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    from app.services.privacy import erase_member, export_member

    member = demo.passes[0].member_id
    token = ask(client, app, mkey, pos, member)
    client.post(f"/f/{token}", data={"score": "5", "comment": "Холодный кофе"})
    with app.app_context():
        person = db.session.get(Member, member)
        exported = export_member(person)["feedback"]
        assert [(f["score"], f["comment"]) for f in exported] == [(5, "Холодный кофе")]
        erase_member(person)
        db.session.commit()
    rows = requests_of(app, member)
    assert (rows[0].score, rows[0].comment) == (5, "")
    # The link of a closed card no longer works.
    assert client.get(f"/f/{token}").status_code == 410


def test_expired_requests_leave_the_pass(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    from app.services import scheduler

    member = demo.passes[0].member_id
    token = ask(client, app, mkey, pos, member)
    with app.app_context():
        assert scheduler.run_due(utcnow())["feedback_expiry"] == "ok"
    assert "feedback" in back_keys(app, member)  # not expired yet
    with app.app_context():
        row = db.session.scalar(select(Feedback).where(Feedback.token == token))
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        before = db.session.scalar(
            select(Pass.update_tag).where(Pass.member_id == member)
        )
        assert scheduler.run_due(utcnow())["feedback_expiry"] == "ok"
        assert db.session.get(Member, member).feedback_token is None
        after = db.session.scalar(
            select(Pass.update_tag).where(Pass.member_id == member)
        )
    assert after > before  # the pass moved: devices fetch it without the link
    assert "feedback" not in back_keys(app, member)


def test_two_submits_at_once_answer_once(
    client: FlaskClient, app: Flask, demo: Demo, mkey: str, pos: str
) -> None:
    """A threaded server (PostgreSQL row locks, SQLite writers serialised): the
    same form sent twice at the same moment is one answer and one event."""
    import threading
    import urllib.error
    import urllib.parse
    import urllib.request

    from tests.support.liveserver import live_server

    member = demo.passes[0].member_id
    app.config["WEBHOOK_ALLOW_LOOPBACK"] = True
    hook = send(
        client,
        "POST",
        mkey,
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": ["feedback.received"]},
    )
    assert hook.status_code == 201
    token = ask(client, app, mkey, pos, member)
    statuses: list[int] = []

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with live_server(app) as url:
        start = threading.Barrier(2)

        def submit(score: str) -> None:
            data = urllib.parse.urlencode({"score": score}).encode()
            start.wait()
            try:
                with opener.open(f"{url}/f/{token}", data=data, timeout=60) as r:
                    statuses.append(r.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)

        threads = [threading.Thread(target=submit, args=(s,)) for s in ("3", "4")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [302, 302]  # the second one updates the answer
    rows = requests_of(app, member)
    assert len(rows) == 1
    assert rows[0].score in (3, 4)
    with app.app_context():
        events = db.session.scalars(select(WebhookDelivery.event)).all()
    assert events == ["feedback.received"]
