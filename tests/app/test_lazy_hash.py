"""Campaign passes move without re-hashing; the pass_hashes job fills the hashes.

`deliver_many` moves the tags of exactly the members whose offer changed and
leaves their stored hash unknown; the worker's `pass_hashes` job fills it in with
a compare-and-set, so later re-checks of every pass push nobody for nothing.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, update

from app.extensions import db
from app.models import Member, Pass, PassRefresh, Program, PushDelivery
from app.models.base import utcnow
from app.services import campaigns, messaging, outbox, pass_hashes, scheduler, stores
from app.services.passes import (
    UNKNOWN_HASH,
    content_hash,
    last_update_tag,
    refresh_pass,
)
from tests.app.campaign_support import NOW, add_member, add_pass, register_device
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn
from tests.support.push import drain

TEXTS = {"ru": "Скидка 30% на обувь", "en": "30% off shoes"}


def count(model: type, *where: object) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def tag_of(member_id: int) -> int:
    return db.session.scalar(select(Pass.update_tag).where(Pass.member_id == member_id))


def all_tags(program: Program) -> dict[int, int]:
    return dict(
        db.session.execute(
            select(Pass.member_id, Pass.update_tag).where(Pass.program_id == program.id)
        )
        .tuples()
        .all()
    )


def pass_of(member_id: int) -> Pass:
    pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
    assert pass_ is not None
    return pass_


def run_campaign(program: Program, texts: dict[str, str] = TEXTS) -> int:
    campaign = campaigns.create(
        program,
        {
            "texts": texts,
            "segment": {"all": {}},
            "state": "scheduled",
            "holdout_percent": 0,
        },
        None,
    )
    db.session.commit()
    assert campaigns.run_campaign(campaign.id, NOW) == "done"
    return campaign.id


def hashed_everything(program: Program) -> None:
    """Every pass's stored hash is its content's and its devices have it (as
    after signup and delivery)."""
    for pass_ in db.session.scalars(select(Pass).where(Pass.program_id == program.id)):
        refresh_pass(pass_)
    db.session.execute(delete(PushDelivery))
    db.session.commit()


def delivered() -> None:
    """The queued pushes were sent (as the worker leaves them)."""
    db.session.execute(update(PushDelivery).values(status="sent", pending_key=None))
    db.session.commit()


def test_a_campaign_moves_exactly_the_members_whose_offer_changed(
    app: Flask, demo: Demo
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        same, changed, android = (add_member(program) for _ in range(3))
        same.offer = messaging.offer_text(TEXTS, "ru", NOW.date())
        devices = {m.id: register_device(m) for m in (same, changed)}
        devices[android.id] = register_device(android, platform="android")
        no_device = add_member(program)
        add_pass(no_device)
        db.session.commit()
        hashed_everything(program)
        before = all_tags(program)
        same_hash = pass_of(same.id).content_hash
        last = last_update_tag(program.id)
        queued = count(PushDelivery)

        campaign_id = run_campaign(program)

        # The member already showing the text keeps tag and hash; every other
        # pass (the demo's members too) moves to a fresh, distinct tag above the
        # program's last one.
        after = all_tags(program)
        moved = {m: tag for m, tag in after.items() if tag != before[m]}
        assert set(moved) == set(before) - {same.id}
        assert pass_of(same.id).content_hash == same_hash
        db.session.refresh(program)
        assert sorted(moved.values()) == list(
            range(last + 1, last_update_tag(program.id) + 1)
        )
        for member_id in moved:
            assert pass_of(member_id).content_hash == UNKNOWN_HASH
        # One queued row per moved device, on its platform's channel.
        rows = db.session.scalars(
            select(PushDelivery).where(PushDelivery.campaign_id == campaign_id)
        ).all()
        assert count(PushDelivery) == queued + 2
        topic = program.pass_type_identifier
        assert sorted((r.channel, r.push_token, r.pass_id) for r in rows) == sorted(
            [
                ("apns", devices[changed.id].push_token, pass_of(changed.id).id),
                ("android", devices[android.id].push_token, pass_of(android.id).id),
            ]
        )
        for row in rows:
            assert row.pending_key == f"{row.channel}:{topic}:{row.push_token}"
            assert (row.status, row.generation, row.attempts) == ("queued", 0, 0)
            assert (
                row.device_id == devices[db.session.get(Pass, row.pass_id).member_id].id
            )


def test_a_queued_push_is_coalesced(app: Flask, demo: Demo) -> None:
    """A token with a queued push keeps one row: the campaign bumps its
    generation (the worker sends again) and claims it."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program)
        device = register_device(member)
        db.session.commit()
        hashed_everything(program)
        outbox.enqueue_for_passes([pass_of(member.id).id])
        db.session.commit()
        campaign_id = run_campaign(program)
        [row] = db.session.scalars(
            select(PushDelivery).where(PushDelivery.push_token == device.push_token)
        ).all()
        assert (row.status, row.generation, row.campaign_id) == (
            "queued",
            1,
            campaign_id,
        )


def test_the_device_gets_the_pass_with_the_new_offer(
    app: Flask, client: FlaskClient, demo: Demo, push_app: Flask, apns: ApnsStandIn
) -> None:
    p = demo.passes[0]
    device, token = "lazy-device-0001", "ab" * 32
    response = client.post(
        f"/wallet/v1/devices/{device}/registrations/{demo.pass_type}/{p.serial}",
        json={"pushToken": token},
        headers={"Authorization": f"ApplePass {p.token}"},
    )
    assert response.status_code == 201
    listing = client.get(f"/wallet/v1/devices/{device}/registrations/{demo.pass_type}")
    tag = listing.get_json()["lastUpdated"]
    auth = {"Authorization": f"ApplePass {p.token}"}
    before = client.get(f"/wallet/v1/passes/{demo.pass_type}/{p.serial}", headers=auth)
    with app.app_context():
        run_campaign(db.session.get(Program, demo.program_id))
    drain(push_app)
    assert [(x.token, x.status) for x in apns.pushes] == [(token, 200)]

    changed = client.get(
        f"/wallet/v1/devices/{device}/registrations/{demo.pass_type}",
        query_string={"passesUpdatedSince": tag},
    )
    assert changed.get_json()["serialNumbers"] == [p.serial]
    assert int(changed.get_json()["lastUpdated"]) > int(tag)
    # Last-Modified moved too: the device's If-Modified-Since gets the new pass.
    latest = client.get(
        f"/wallet/v1/passes/{demo.pass_type}/{p.serial}",
        headers={**auth, "If-Modified-Since": before.headers["Last-Modified"]},
    )
    assert latest.status_code == 200
    pass_json = json.loads(zipfile.ZipFile(io.BytesIO(latest.data)).read("pass.json"))
    (offer,) = pass_json["storeCard"]["auxiliaryFields"]
    assert offer["value"] == messaging.offer_text(TEXTS, "ru", NOW.date())
    assert offer["changeMessage"] == "%@"


def test_after_the_fill_job_a_store_recheck_pushes_nobody(
    app: Flask, demo: Demo
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        members = [add_member(program) for _ in range(3)]
        for member in members:
            register_device(member)
        db.session.commit()
        run_campaign(program)
        assert scheduler.run_due(datetime.now(UTC))["pass_hashes"] == "ok"
        for member in members:
            pass_ = pass_of(member.id)
            assert pass_.content_hash == content_hash(pass_)
        tags = {m.id: tag_of(m.id) for m in members}
        queued = count(PushDelivery)
        # A re-check of every pass (as after a settings change) changes nothing.
        program = db.session.get(Program, demo.program_id)
        refresh = stores.queue_refresh(program)
        stores.process(refresh)
        db.session.commit()
        assert (refresh.status, refresh.refreshed) == ("done", 0)
        assert {m.id: tag_of(m.id) for m in members} == tags
        assert count(PushDelivery) == queued


def test_before_the_fill_job_a_refresh_moves_the_tag(app: Flask, demo: Demo) -> None:
    """An unknown hash is conservative: the next refresh pushes again."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program)
        register_device(member)
        db.session.commit()
        run_campaign(program)
        delivered()
        pass_ = pass_of(member.id)
        tag, queued = pass_.update_tag, count(PushDelivery)
        assert refresh_pass(pass_) is True
        db.session.commit()
        assert tag_of(member.id) > tag
        assert pass_of(member.id).content_hash == content_hash(pass_)
        assert count(PushDelivery) == queued + 1


def test_the_fill_does_not_overwrite_a_hash_when_the_tag_moved(
    app: Flask, demo: Demo
) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program)
        register_device(member)
        db.session.commit()
        run_campaign(program)
        read = pass_hashes.read_batch()
        db.session.commit()
        old_digest = {pass_id: digest for pass_id, _, digest in read}[
            pass_of(member.id).id
        ]
        # Meanwhile another campaign changes the offer again (tag moves, hash
        # still unknown): the hash read before is of the OLD content.
        modified = pass_of(member.id).updated_at
        run_campaign(program, {"ru": "Вторая акция"})
        # Within the same second or not, Last-Modified moves forward.
        assert pass_of(member.id).updated_at > modified
        pass_hashes.store_hashes(read)
        db.session.commit()
        assert pass_of(member.id).content_hash == UNKNOWN_HASH
        # The next fill reads the new content.
        assert pass_hashes.fill_batch() == len(read)
        db.session.commit()
        pass_ = pass_of(member.id)
        assert pass_.content_hash == content_hash(pass_)
        assert pass_.content_hash != old_digest


def test_no_fill_while_a_program_refresh_is_queued(app: Flask, demo: Demo) -> None:
    """A settings or store change moves the tags later, in batches: a hash filled
    in between would hide the change from that refresh."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program)
        register_device(member)
        db.session.commit()
        run_campaign(program)
        read = pass_hashes.read_batch()
        db.session.commit()
        # A design change commits after the read, with its refresh queued.
        program = db.session.get(Program, demo.program_id)
        program.design = {**program.design, "background": "#102030"}
        refresh = stores.queue_refresh(program)
        db.session.commit()
        pass_hashes.store_hashes(read)
        assert pass_hashes.read_batch() == []
        db.session.commit()
        assert pass_of(member.id).content_hash == UNKNOWN_HASH
        # The refresh pushes the new design; then nothing is left to fill.
        tag = tag_of(member.id)
        stores.process(db.session.get(PassRefresh, refresh.id))
        db.session.commit()
        assert tag_of(member.id) > tag
        pass_ = pass_of(member.id)
        assert pass_.content_hash == content_hash(pass_)
        assert pass_hashes.fill_batch() == 0


def test_offer_unchanged_members_keep_a_filled_hash(app: Flask, demo: Demo) -> None:
    """The same text again the same day reaches nobody's phone and keeps hashes."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program)
        register_device(member)
        db.session.commit()
        run_campaign(program)
        pass_hashes.fill_batch()
        db.session.commit()
        digest, tag, queued = (
            pass_of(member.id).content_hash,
            tag_of(member.id),
            count(PushDelivery),
        )
        run_campaign(program)
        assert (pass_of(member.id).content_hash, tag_of(member.id)) == (digest, tag)
        assert count(PushDelivery) == queued
        assert db.session.get(Member, member.id).offer == messaging.offer_text(
            TEXTS, "ru", NOW.date()
        )


def test_last_modified_stays_strictly_increasing(app: Flask, demo: Demo) -> None:
    """A pass last changed at (or after) this second moves one second on."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program)
        register_device(member)
        db.session.commit()
        ahead = (utcnow() + timedelta(seconds=30)).replace(microsecond=0)
        pass_of(member.id).updated_at = ahead
        db.session.commit()
        run_campaign(program)
        assert pass_of(member.id).updated_at == ahead + timedelta(seconds=1)
        # The others get "now" (whole seconds).
        others = db.session.scalars(
            select(Pass.updated_at).where(Pass.member_id != member.id)
        ).all()
        assert all(t < ahead and t.microsecond == 0 for t in others)


def test_fill_walks_the_unknown_hashes_in_batches(
    app: Flask, demo: Demo, monkeypatch
) -> None:
    """`fill` goes batch after batch (a keyset on the pass id), stops after
    `max_batches`, and a later run picks up what is left, including a pass a
    batch lost to a concurrent tag move."""
    monkeypatch.setattr(pass_hashes, "BATCH", 2)
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        members = [add_member(program) for _ in range(7)]
        for member in members:
            add_pass(member)
        db.session.execute(update(Pass).values(content_hash=UNKNOWN_HASH))
        db.session.commit()
        unknown = count(Pass, Pass.content_hash == UNKNOWN_HASH)
        assert unknown >= 7

        assert pass_hashes.fill(max_batches=2) == 4
        assert count(Pass, Pass.content_hash == UNKNOWN_HASH) == unknown - 4

        # A tag moved between the read and the compare-and-set: that pass
        # stays unknown in this run and is filled by the next one.
        real_read = pass_hashes.read_batch
        moved: list[int] = []

        def read_then_move(limit: int = 2, after: int = 0) -> list:
            read = real_read(limit, after)
            if read and not moved:
                moved.append(read[0][0])
                db.session.execute(
                    update(Pass)
                    .where(Pass.id == read[0][0])
                    .values(update_tag=Pass.update_tag + 1)
                )
            return read

        monkeypatch.setattr(pass_hashes, "read_batch", read_then_move)
        assert pass_hashes.fill(max_batches=None) == unknown - 4
        assert count(Pass, Pass.content_hash == UNKNOWN_HASH) == 1
        assert pass_of_id(moved[0]).content_hash == UNKNOWN_HASH

        monkeypatch.setattr(pass_hashes, "read_batch", real_read)
        assert pass_hashes.fill(max_batches=None) == 1
        assert count(Pass, Pass.content_hash == UNKNOWN_HASH) == 0
        filled = pass_of_id(moved[0])
        assert filled.content_hash == content_hash(filled)


def pass_of_id(pass_id: int) -> Pass:
    db.session.expire_all()
    pass_ = db.session.get(Pass, pass_id)
    assert pass_ is not None
    return pass_


def test_hashing_holds_no_pass_row_and_the_cas_never_waits(
    app: Flask, demo: Demo
) -> None:
    """The job builds a batch's passes (CPU work, in a worker that yields its
    CPU to the tills) without holding their rows: a purchase that updates one
    meanwhile does not wait for it. Its compare-and-set then skips a row another
    transaction holds instead of waiting, and a later run fills it."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        import pytest

        pytest.skip("row locks are PostgreSQL's (SQLite: the read takes no write lock)")
    from sqlalchemy import text

    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        members = [add_member(program) for _ in range(2)]
        for member in members:
            register_device(member)
        db.session.commit()
        run_campaign(program)
        held, other = pass_of(members[0].id).id, pass_of(members[1].id).id
        read = pass_hashes.read_batch()
        assert {held, other} <= {pass_id for pass_id, _, _ in read}
        # The read's transaction is still open: another one can lock the rows.
        with db.engine.connect() as till:
            till.execute(text("SET lock_timeout = '1s'"))
            till.execute(
                text("SELECT id FROM pass WHERE id = :id FOR UPDATE NOWAIT"),
                {"id": held},
            )
            # ... and while it holds one, the CAS skips that one, no waiting.
            pass_hashes.store_hashes(read)
            db.session.commit()
            till.rollback()
        assert pass_of_id(held).content_hash == UNKNOWN_HASH
        filled = pass_of_id(other)
        assert filled.content_hash == content_hash(filled)
        assert pass_hashes.fill(max_batches=None) >= 1
        done = pass_of_id(held)
        assert done.content_hash == content_hash(done)
