"""Products and back in stock: catalogue, subscriptions from the API, the till and
the card page, unsubscribe, restock fulfilling each subscription once with a
push, quiet hours, bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import Member, MemberMessage, ProductSubscription, Program, Store
from app.services import catalog, scheduler
from tests.app.marketing_support import auth, marketer_key, never_quiet
from tests.app.pos_support import card, make_key, other_program
from tests.app.test_messaging import register
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn
from tests.support.push import drain

COAT = {"sku": "COAT-1", "name": {"ru": "Пальто «Нева»", "en": "Neva coat"}}


def store_id(app: Flask, code: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Store.id).where(Store.code == code))


def create_coat(client: FlaskClient, key: str, **extra: object) -> dict:
    answer = client.post(
        "/api/v1/products",
        json={**COAT, "sizes": ["S", "M", "L"], **extra},
        headers=auth(key),
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def subscribe(client: FlaskClient, key: str, member_id: int, **choice: object) -> dict:
    answer = client.post(
        "/api/v1/products/COAT-1/subscriptions",
        json={"member_id": member_id, **choice},
        headers=auth(key),
    )
    assert answer.status_code in (200, 201), answer.get_json()
    return answer.get_json()


def offers(app: Flask, member_id: int) -> str:
    with app.app_context():
        return db.session.get(Member, member_id).offer


def test_catalogue_and_bad_input(app: Flask, client: FlaskClient, demo: Demo) -> None:
    key = marketer_key(app, demo.program_id)
    atrium = store_id(app, "msk-atrium")
    create_coat(client, key, store_ids=[atrium])
    listed = client.get("/api/v1/products", headers=auth(key)).get_json()["products"]
    assert listed == [
        {**COAT, "sizes": ["S", "M", "L"], "store_ids": [atrium], "waiting": 0}
    ]
    for bad in (
        {"name": {"ru": "x"}},
        {"sku": "bad sku", "name": "x"},
        {"sku": "A1", "name": {"de": "x"}},
        {"sku": "A1", "name": "x", "sizes": ["S", "S"]},
        {"sku": "A1", "name": "x", "store_ids": [999999]},
        {"sku": "A1", "name": "x", "price": 1},
    ):
        answer = client.post("/api/v1/products", json=bad, headers=auth(key))
        assert answer.status_code == 422, bad
        assert set(answer.get_json()) == {"error", "message"}
    assert (
        client.post("/api/v1/products", json=COAT, headers=auth(key)).status_code == 409
    )
    assert (
        len(client.get("/api/v1/products", headers=auth(key)).get_json()["products"])
        == 1
    )
    member = demo.passes[0].member_id
    for path, body, status in (
        ("/api/v1/products/NOPE/restock", {}, 404),
        ("/api/v1/products/NOPE/subscriptions", {"member_id": member}, 404),
        (
            "/api/v1/products/COAT-1/subscriptions",
            {"member_id": member, "size": "XXL"},
            422,
        ),
        ("/api/v1/products/COAT-1/subscriptions", {"member_id": 999999}, 404),
        ("/api/v1/products/COAT-1/subscriptions", {}, 422),
        ("/api/v1/products/COAT-1/restock", {"size": "XXL"}, 422),
        ("/api/v1/products/COAT-1/restock", {"colour": "red"}, 422),
    ):
        assert client.post(path, json=body, headers=auth(key)).status_code == status, (
            path
        )


def test_restock_fulfils_once_and_pushes(
    app: Flask, client: FlaskClient, demo: Demo, push_app: Flask, apns: ApnsStandIn
) -> None:
    never_quiet(app, demo.program_id)
    register(client, demo)
    key = marketer_key(app, demo.program_id)
    create_coat(client, key)
    anna, dmitry, third = (p.member_id for p in demo.passes)
    atrium = store_id(app, "msk-atrium")
    m_sub = subscribe(client, key, anna, size="M", store_id=atrium)
    assert m_sub["status"] == "waiting"
    assert subscribe(client, key, anna, size="M", store_id=atrium)["id"] == m_sub["id"]
    subscribe(client, key, dmitry, size="L")
    any_size = subscribe(client, key, third)
    # Restock size M in the Atrium: Anna (M there) and the any-size subscriber.
    answer = client.post(
        "/api/v1/products/COAT-1/restock",
        json={"size": "M", "store_id": atrium},
        headers=auth(key),
    )
    assert answer.get_json() == {"sku": "COAT-1", "matched": 2, "sent": 2, "waiting": 0}
    assert offers(app, anna).startswith(
        "Снова в наличии: Пальто «Нева», размер M — в магазине ТЦ «Атриум» · "
    )
    # The third demo member reads English.
    assert offers(app, third).startswith(
        "Back in stock: Neva coat, size M — at ТЦ «Атриум» · "
    )
    assert offers(app, dmitry) == "" or "Пальто" not in offers(app, dmitry)
    # Again: nothing more (each subscription is fulfilled once).
    again = client.post(
        "/api/v1/products/COAT-1/restock",
        json={"size": "M", "store_id": atrium},
        headers=auth(key),
    ).get_json()
    assert again["matched"] == again["sent"] == 0
    with app.app_context():
        statuses = dict(
            db.session.execute(
                select(ProductSubscription.id, ProductSubscription.status)
            ).all()
        )
        assert statuses[m_sub["id"]] == statuses[any_size["id"]] == "fulfilled"
        assert sorted(statuses.values()) == ["fulfilled", "fulfilled", "waiting"]
        assert db.session.scalars(
            select(MemberMessage.source_key)
            .where(MemberMessage.kind == "back_in_stock")
            .order_by(MemberMessage.id)
        ).all() == [f"restock:{m_sub['id']}", f"restock:{any_size['id']}"]
    # The push reaches the APNs stand-in for Anna's registered device, once.
    drain(push_app)
    assert apns.delivered() == {"00" * 32: 1}


def test_restock_in_quiet_hours_waits(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = marketer_key(app, demo.program_id)
    create_coat(client, key)
    anna = demo.passes[0].member_id
    sub = subscribe(client, key, anna, size="S")
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        product = catalog.get_product(program, "COAT-1")
        night = datetime(2026, 11, 25, 20, tzinfo=UTC)  # 23:00 in Moscow
        assert catalog.restock(program, product, "S", None, now=night) == {
            "matched": 1,
            "sent": 0,
            "waiting": 1,
        }
        db.session.commit()
        assert "Пальто" not in db.session.get(Member, anna).offer
        scheduler.run_due(datetime(2026, 11, 26, 5, tzinfo=UTC))  # 08:00: still quiet
        assert db.session.get(ProductSubscription, sub["id"]).status == "restocked"
        scheduler.run_due(datetime(2026, 11, 26, 6, tzinfo=UTC))  # 09:00
        db.session.expire_all()
        assert db.session.get(ProductSubscription, sub["id"]).status == "fulfilled"
        assert db.session.get(Member, anna).offer.startswith(
            "Снова в наличии: Пальто «Нева», размер S · 26.11"
        )


def test_unsubscribe_by_api(app: Flask, client: FlaskClient, demo: Demo) -> None:
    never_quiet(app, demo.program_id)
    key = marketer_key(app, demo.program_id)
    create_coat(client, key)
    anna = demo.passes[0].member_id
    sub = subscribe(client, key, anna)
    gone = client.delete(
        f"/api/v1/products/COAT-1/subscriptions/{sub['id']}", headers=auth(key)
    )
    assert gone.get_json()["status"] == "cancelled"
    restock = client.post("/api/v1/products/COAT-1/restock", json={}, headers=auth(key))
    assert restock.get_json()["matched"] == 0
    assert "Пальто" not in offers(app, anna)
    listed = client.get(
        "/api/v1/products/COAT-1/subscriptions?status=all", headers=auth(key)
    ).get_json()["subscriptions"]
    assert [s["status"] for s in listed] == ["cancelled"]


def test_pos_subscribe_and_scan_lists_waiting_items(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = marketer_key(app, demo.program_id)
    create_coat(client, key)
    pos_key = make_key(app)
    anna = card(app, demo.passes[0].member_id)
    answer = client.post(
        "/api/v1/pos/subscriptions",
        json={"code": anna.barcode, "sku": "COAT-1", "size": "L"},
        headers=auth(pos_key),
    )
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["store"] == "ТЦ «Атриум»"  # the till's store
    assert answer.get_json()["source"] == "pos"
    scan = client.post(
        "/api/v1/pos/scan", json={"code": anna.number}, headers=auth(pos_key)
    )
    assert scan.get_json()["back_in_stock"] == [
        {
            "subscription_id": answer.get_json()["id"],
            "sku": "COAT-1",
            "name": COAT["name"],
            "size": "L",
            "store": "ТЦ «Атриум»",
        }
    ]
    for body, status in (
        ({"code": anna.number, "sku": "NOPE"}, 404),
        ({"code": anna.number}, 422),
        ({"code": anna.number, "sku": "COAT-1", "size": "XXL"}, 422),
    ):
        assert (
            client.post(
                "/api/v1/pos/subscriptions", json=body, headers=auth(pos_key)
            ).status_code
            == status
        )
    # Another program's card: refused.
    _, stranger = other_program(app)
    refused = client.post(
        "/api/v1/pos/subscriptions",
        json={"code": stranger.number, "sku": "COAT-1"},
        headers=auth(pos_key),
    )
    assert refused.status_code == 403


def test_card_page_subscribe_and_unsubscribe(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = marketer_key(app, demo.program_id)
    create_coat(client, key)
    token = demo.passes[0].card_token
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    page = client.get(f"/c/{token}")
    html = page.get_data(as_text=True)
    assert 'id="product-COAT-1"' in html
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    # Without the CSRF token: refused, nothing saved.
    refused = client.post(
        f"/c/{token}/subscriptions", data={"sku": "COAT-1", "size": "M"}
    )
    assert refused.status_code == 400
    done = client.post(
        f"/c/{token}/subscriptions",
        data={"sku": "COAT-1", "size": "M", "store_id": "", "csrf_token": csrf},
    )
    assert done.status_code == 303
    with app.app_context():
        (sub,) = db.session.scalars(select(ProductSubscription)).all()
        assert (sub.size, sub.store_id, sub.source, sub.status) == (
            "M",
            None,
            "card",
            "waiting",
        )
        sub_id = sub.id
    html = client.get(f"/c/{token}").get_data(as_text=True)
    assert f'id="unsubscribe-{sub_id}"' in html
    bad = client.post(
        f"/c/{token}/subscriptions",
        data={"sku": "COAT-1", "size": "XXL", "csrf_token": csrf},
    )
    assert bad.status_code == 422
    # Someone else's card cannot cancel it.
    other = demo.passes[1].card_token
    assert (
        client.post(
            f"/c/{other}/subscriptions/{sub_id}/delete", data={"csrf_token": csrf}
        ).status_code
        == 404
    )
    gone = client.post(
        f"/c/{token}/subscriptions/{sub_id}/delete", data={"csrf_token": csrf}
    )
    assert gone.status_code == 303
    with app.app_context():
        assert db.session.get(ProductSubscription, sub_id).status == "cancelled"
    assert 'id="no-subscriptions"' in client.get(f"/c/{token}").get_data(as_text=True)


def test_my_data_lists_subscriptions_and_erasure_ends_them(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    key = marketer_key(app, demo.program_id)
    create_coat(client, key)
    anna = demo.passes[0]
    sub = subscribe(client, key, anna.member_id, size="S")
    data = client.get(f"/c/{anna.card_token}/data.json").get_json()
    assert data["back_in_stock"] == [
        {
            "sku": "COAT-1",
            "product": "Пальто «Нева»",
            "size": "S",
            "store": None,
            "status": "waiting",
            "subscribed_at": sub["created_at"],
        }
    ]
    erased = client.post(f"/c/{anna.card_token}/erase", data={"confirm": "yes"})
    assert erased.status_code == 303
    with app.app_context():
        assert db.session.get(ProductSubscription, sub["id"]).status == "cancelled"


def test_back_in_stock_messages_carry_the_configured_offer(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    """The back_in_stock setting's offer goes with each message: one instance per
    member messaged (source restock:<subscription>), none to the others, none
    again on a second restock; off again with null."""
    from app.models import MemberOffer

    never_quiet(app, demo.program_id)
    key = marketer_key(app, demo.program_id)
    offer_id = client.post(
        "/api/v1/offers",
        json={
            "kind": "amount_off",
            "value": "500",
            "title": {"ru": "−500 ₽ на пальто"},
            "valid_days": 3,
        },
        headers=auth(key),
    ).get_json()["id"]
    configured = client.patch(
        "/api/v1/automations",
        json={"back_in_stock": {"settings": {"offer_id": offer_id}}},
        headers=auth(key),
    )
    assert configured.status_code == 200, configured.get_json()
    assert configured.get_json()["automations"][0]["settings"] == {"offer_id": offer_id}
    # Only the offer is a setting of back_in_stock; it is never run by hand.
    for bad in ({"hour": 10}, {"offer_id": 999_999}):
        refused = client.patch(
            "/api/v1/automations",
            json={"back_in_stock": {"settings": bad}},
            headers=auth(key),
        )
        assert refused.status_code == 422, bad
    ran = client.post("/api/v1/automations/back_in_stock/run", headers=auth(key))
    assert ran.status_code == 422
    assert ran.get_json()["error"] == "unknown_automation"
    create_coat(client, key)
    anna, dmitry, third = (p.member_id for p in demo.passes)
    subs = [subscribe(client, key, anna, size="M"), subscribe(client, key, third)]
    subscribe(client, key, dmitry, size="L")
    answer = client.post(
        "/api/v1/products/COAT-1/restock", json={"size": "M"}, headers=auth(key)
    ).get_json()
    assert answer["sent"] == 2
    client.post(
        "/api/v1/products/COAT-1/restock", json={"size": "M"}, headers=auth(key)
    )

    def issued() -> list[tuple[int, str, str, str]]:
        with app.app_context():
            return [
                tuple(row)
                for row in db.session.execute(
                    select(
                        MemberOffer.member_id,
                        MemberOffer.source,
                        MemberOffer.source_kind,
                        MemberOffer.source_ref,
                    ).order_by(MemberOffer.member_id)
                )
            ]

    assert issued() == sorted(
        [
            (anna, f"restock:{subs[0]['id']}", "automation", "back_in_stock"),
            (third, f"restock:{subs[1]['id']}", "automation", "back_in_stock"),
        ]
    )
    # Counted per source like every automation's offer.
    stats = client.get("/api/v1/stats", headers=auth(key)).get_json()
    by_source = [o for o in stats["offers"] if o["offer_id"] == offer_id][0]
    assert [s["source"] for s in by_source["by_source"]] == [
        {"kind": "automation", "ref": "back_in_stock"}
    ]
    assert by_source["issued"] == 2

    # Off: the next restock's message goes without an offer.
    client.patch(
        "/api/v1/automations",
        json={"back_in_stock": {"settings": {"offer_id": None}}},
        headers=auth(key),
    )
    client.post(
        "/api/v1/products/COAT-1/restock", json={"size": "L"}, headers=auth(key)
    )
    assert "Пальто" in offers(app, dmitry)
    assert len(issued()) == 2
