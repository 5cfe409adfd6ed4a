"""The purchase path refreshes the pass without ORM objects
(services.purchase_writes, one statement on PostgreSQL, steps on SQLite): it must
give the pass the same content, tag and pushes as `refresh_pass` would."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import passes
from app.extensions import db
from app.models import LedgerEntry, Member, Pass, Program, PushDelivery
from app.models.push import QUEUED, SENT
from app.services import outbox
from app.services.passes import content_hash, last_update_tag, refresh_pass
from tests.app.campaign_support import add_member, register_device, save_google
from tests.app.pos_support import (
    assert_ledger_matches_balances,
    balance,
    card,
    make_key,
)
from tests.app.test_pos_api import buy
from tests.conftest import Demo


def _queued(pass_id: int) -> set[tuple]:
    return {
        (d.channel, d.topic, d.push_token, d.device_id, d.pass_id, d.campaign_id)
        for d in db.session.scalars(
            select(PushDelivery).where(
                PushDelivery.pass_id == pass_id, PushDelivery.status == QUEUED
            )
        )
    }


def test_a_purchase_updates_the_pass_and_queues_what_refresh_pass_would(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    app.config["GOOGLE_ISSUER_ID"] = "3388000000000000000"
    member_id = demo.passes[0].member_id
    with app.app_context():
        member = db.session.get(Member, member_id)
        apple = register_device(member, "apple")
        android = register_device(member, "android")
        # A second phone with the same token: one delivery, not two.
        twin = register_device(member, "apple")
        twin.push_token = apple.push_token
        save_google(member)
        # Another member's pass in the program: its devices get nothing.
        register_device(db.session.get(Member, demo.passes[1].member_id))
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        # A push already queued for one token is coalesced, not doubled.
        outbox.enqueue(
            "apns",
            demo.pass_type,
            apple.push_token,
            pass_id=pass_.id,
            device_id=apple.id,
        )
        db.session.commit()
        pass_id, tag_before = pass_.id, pass_.update_tag
        modified_before = pass_.updated_at
        program_tag_before = last_update_tag(demo.program_id)
        apple_token, android_token = apple.push_token, android.push_token
        apple_id, android_id = max(apple.id, twin.id), android.id

    sale = buy(client, make_key(app), card(app, member_id).barcode, amount="5000")
    assert sale.status_code == 201

    with app.app_context():
        pass_ = db.session.get(Pass, pass_id)
        # The content the POS path hashed is the content refresh_pass computes.
        assert pass_.content_hash == content_hash(pass_)
        assert not refresh_pass(pass_)
        program_tag = last_update_tag(demo.program_id)
        assert pass_.update_tag == program_tag == program_tag_before + 1
        assert pass_.update_tag > tag_before
        assert pass_.updated_at > modified_before
        queued = _queued(pass_id)
        assert queued == {
            ("apns", demo.pass_type, apple_token, apple_id, pass_id, None),
            ("android", demo.pass_type, android_token, android_id, pass_id, None),
            ("google", "object", str(member_id), None, pass_id, None),
        }
        generations = {
            d.push_token: d.generation
            for d in db.session.scalars(
                select(PushDelivery).where(PushDelivery.status == QUEUED)
            )
        }
        assert generations[apple_token] == 1  # coalesced with the older row
        assert generations[android_token] == 0

        # The ORM path (refresh_pass -> enqueue_pass_update) queues the same rows.
        for delivery in db.session.scalars(select(PushDelivery)):
            delivery.status, delivery.pending_key = SENT, None
        db.session.flush()
        outbox.enqueue_pass_update(pass_)

        def without_device(rows: set[tuple]) -> set[tuple]:
            # Which of two phones sharing a token is named is not specified.
            return {row[:3] + row[4:] for row in rows}

        assert without_device(_queued(pass_id)) == without_device(queued)
        db.session.rollback()


def test_a_purchase_without_google_queues_only_device_pushes(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    member_id = demo.passes[0].member_id
    with app.app_context():
        member = db.session.get(Member, member_id)
        save_google(member)  # Google is off in this deployment: no sync queued
        db.session.commit()
    sale = buy(client, make_key(app), card(app, member_id).barcode, amount="5000")
    assert sale.status_code == 201
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        assert _queued(pass_.id) == set()
        assert pass_.content_hash == content_hash(pass_)


def test_a_sale_that_changes_nothing_on_the_pass_moves_no_tag(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    member_id = demo.passes[0].member_id
    with app.app_context():
        register_device(db.session.get(Member, member_id))
        db.session.commit()
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        pass_id, tag, digest = pass_.id, pass_.update_tag, pass_.content_hash
        program_tag = last_update_tag(demo.program_id)
    # One kopeck earns nothing: balance and tier stay, so does the pass.
    sale = buy(client, make_key(app), card(app, member_id).barcode, amount="0.01")
    assert sale.status_code == 201
    assert sale.get_json()["earned"] == 0
    with app.app_context():
        pass_ = db.session.get(Pass, pass_id)
        assert (pass_.update_tag, pass_.content_hash) == (tag, digest)
        assert last_update_tag(demo.program_id) == program_tag
        assert _queued(pass_id) == set()


def test_a_member_without_a_pass_can_buy(
    app: Flask, client: FlaskClient, demo: Demo
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program, card_number=passes.new_card_number(), points=50)
        db.session.add(
            LedgerEntry(
                program_id=program.id, member_id=member.id, kind="bonus", points=50
            )
        )
        db.session.commit()
        member_id = member.id
    sale = buy(
        client, make_key(app), card(app, member_id).barcode, amount="1000", redeem=20
    )
    assert sale.status_code == 201, sale.get_json()
    body = sale.get_json()
    assert body["balance"] == 50 - 20 + body["earned"]
    assert balance(app, member_id) == body["balance"]
    assert_ledger_matches_balances(app)
