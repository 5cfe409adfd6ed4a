"""messaging.deliver_many: the set-based path campaigns take, against `deliver`."""

from __future__ import annotations

import secrets
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import (
    Device,
    GoogleObject,
    Member,
    MemberMessage,
    Pass,
    Program,
    PushDelivery,
    Registration,
)
from app.services import messaging, pass_hashes
from app.services.idlist import in_ids
from app.services.passes import UNKNOWN_HASH, content_hash, last_update_tag
from app.services.privacy import erase_member
from passes import pick
from tests.app.campaign_support import add_member, add_pass, register_device
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn
from tests.support.push import drain

TEXTS = {"ru": "Скидка 20% на всё", "en": "20% off everything"}
ON = date(2026, 11, 25)


def send(program: Program, ids: list[int], source: str = "campaign:1") -> dict:
    return messaging.deliver_many(
        program, ids, kind="campaign", source_key=source, texts=TEXTS, on=ON
    )


def count(model: type, *where: object) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def tags(ids: list[int]) -> dict[int, int]:
    return dict(
        db.session.execute(
            select(Pass.member_id, Pass.update_tag).where(Pass.member_id.in_(ids))
        ).all()
    )


def test_bodies_offers_tags_and_pushes_like_deliver(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        ru, en = add_member(program), add_member(program, language="en")
        with_device = [add_member(program), add_member(program, language="en")]
        devices = [register_device(m) for m in with_device]
        pass_only = add_member(program)
        add_pass(pass_only)
        erased = add_member(program)
        db.session.commit()
        erase_member(erased)
        db.session.commit()
        ids = [ru.id, en.id, *[m.id for m in with_device], pass_only.id, erased.id]
        before = tags(ids)
        last_tag = last_update_tag(program.id)

        sent = send(program, ids)
        db.session.commit()

        assert sorted(sent) == sorted(ids[:-1])  # not the erased member
        bodies = dict(
            db.session.execute(
                select(MemberMessage.member_id, MemberMessage.body)
            ).all()
        )
        assert bodies[ru.id] == "Скидка 20% на всё · 25.11"
        assert bodies[en.id] == "20% off everything · 11/25"
        for member in (ru, en, pass_only, *with_device):
            db.session.refresh(member)
            assert member.offer == bodies[member.id]
        # Every pass moved to a fresh, distinct tag above the program's last one;
        # its stored hash is unknown until the pass_hashes job fills in its
        # content's.
        after = tags(ids)
        moved = [after[m] for m in after]
        assert all(after[m] > before[m] for m in after)
        assert sorted(moved) == list(range(last_tag + 1, last_tag + len(moved) + 1))
        held = db.session.scalars(select(Pass).where(Pass.member_id.in_(ids))).all()
        assert {pass_.content_hash for pass_ in held} == {UNKNOWN_HASH}
        pass_hashes.fill_batch()
        db.session.commit()
        for pass_ in held:
            assert pass_.content_hash == content_hash(pass_)
        # One queued push per device, none for passes without devices.
        rows = db.session.scalars(select(PushDelivery)).all()
        assert sorted(r.push_token for r in rows) == sorted(
            d.push_token for d in devices
        )
        # The per-member path agrees on the text and the header.
        other = add_member(program, language="en")
        single = messaging.deliver(
            other, kind="campaign", source_key="campaign:1", texts=TEXTS, on=ON
        )
        assert single is not None
        en_row = db.session.scalar(
            select(MemberMessage).where(MemberMessage.member_id == en.id)
        )
        assert (single.body, single.header) == (en_row.body, en_row.header)


def test_a_re_run_batch_reaches_nobody_twice(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        members = [add_member(program) for _ in range(6)]
        for member in members:
            register_device(member)
        ids = [m.id for m in members]
        db.session.commit()
        # A batch's first half was committed before a crash ...
        assert len(send(program, ids[:3])) == 3
        db.session.commit()
        # ... and the crashed attempt at the whole batch rolled back.
        assert len(send(program, ids)) == 3
        db.session.rollback()
        first = tags(ids)
        queued = count(PushDelivery)
        # The re-run batch messages only the other half, moving only their passes.
        assert sorted(send(program, ids)) == ids[3:]
        db.session.commit()
        after = tags(ids)
        assert all(after[m] == first[m] for m in ids[:3])
        assert all(after[m] > first[m] for m in ids[3:])
        assert count(PushDelivery) == queued + 3
        assert send(program, ids) == {}
        per_member = db.session.execute(
            select(MemberMessage.member_id, func.count()).group_by(
                MemberMessage.member_id
            )
        ).all()
        assert sorted(per_member) == [(m, 1) for m in ids]


def test_one_push_per_device_token(
    push_app: Flask, demo: Demo, apns: ApnsStandIn
) -> None:
    """Two members' passes on one phone, and a phone with one pass: each token is
    pushed once, however many of its passes changed."""
    with push_app.app_context():
        program = db.session.get(Program, demo.program_id)
        members = [add_member(program) for _ in range(3)]
        shared = register_device(members[0])
        own = register_device(members[2])
        second = add_pass(members[1])
        db.session.add(Registration(device_id=shared.id, pass_id=second.id))
        db.session.commit()
        tokens = [shared.push_token, own.push_token]
        send(program, [m.id for m in members])
        db.session.commit()
        assert count(PushDelivery) == 2
    drain(push_app)
    assert {t: apns.delivered()[t] for t in tokens} == dict.fromkeys(tokens, 1)
    with push_app.app_context():
        statuses = db.session.scalars(select(PushDelivery.status)).all()
        assert statuses == ["sent", "sent"]


def test_unchanged_content_moves_no_tag(app: Flask, demo: Demo) -> None:
    """A second source with the same text on the same day: a new message row, but
    the pass shows the same thing, so no tag moves and nobody is pushed."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program)
        register_device(member)
        db.session.commit()
        send(program, [member.id], "campaign:1")
        db.session.commit()
        before, queued = tags([member.id]), count(PushDelivery)
        assert list(send(program, [member.id], "campaign:2")) == [member.id]
        db.session.commit()
        assert tags([member.id]) == before
        assert count(PushDelivery) == queued


def test_google_objects_get_a_message_and_a_sync(app: Flask, demo: Demo) -> None:
    app.config["GOOGLE_ISSUER_ID"] = "3388000000000000042"
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        google_only, with_pass, expired, nothing = (add_member(program) for _ in "1234")
        for member, state in ((google_only, "ACTIVE"), (with_pass, "ACTIVE")):
            save(member, state)
        save(expired, "EXPIRED")
        add_pass(with_pass)
        db.session.commit()
        ids = [google_only.id, with_pass.id, expired.id, nothing.id]
        sent = send(program, ids)
        db.session.commit()
        assert sorted(sent) == sorted(ids)
        rows = db.session.execute(
            select(PushDelivery.topic, PushDelivery.push_token, PushDelivery.pass_id)
            .where(PushDelivery.channel == "google")
            .order_by(PushDelivery.id)
        ).all()
        pass_id = db.session.scalar(
            select(Pass.id).where(Pass.member_id == with_pass.id)
        )
        # The changed pass syncs its object first, then each live object gets the
        # message (token "<member>:<message>", never coalesced).
        assert rows == [
            ("object", str(with_pass.id), pass_id),
            ("message", f"{google_only.id}:{sent[google_only.id]}", None),
            ("message", f"{with_pass.id}:{sent[with_pass.id]}", pass_id),
        ]


def save(member: Member, state: str) -> None:
    db.session.add(
        GoogleObject(
            member_id=member.id,
            object_id=f"x.{secrets.token_hex(6)}",
            class_id="x.c",
            body={},
            saved=True,
            state=state,
        )
    )
    db.session.flush()


def test_members_of_another_program_are_ignored(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        member = add_member(program)
        db.session.commit()
        other = Program(
            **{
                c.name: getattr(program, c.name)
                for c in Program.__table__.columns
                if c.name not in ("id", "slug", "pass_type_identifier")
            },
            slug="other",
            pass_type_identifier="pass.other",
        )
        db.session.add(other)
        db.session.commit()
        assert send(other, [member.id]) == {}
        assert count(MemberMessage) == 0
        assert count(Device) == 0


def test_texts_per_language_match_pick(app: Flask, demo: Demo) -> None:
    """The body and header the database picks per member language (a CASE) are
    what `offer_text` and `pick` give, also for a language the texts lack and one
    outside the app's languages; a Member the session holds sees its new offer."""
    texts = {"ru": "Скидка", "en": "Sale", "de": "Rabatt"}
    header = {"en": "Shop", "kk": "Дүкен"}
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        members = [add_member(program, language=x) for x in ("ru", "en", "de", "kk")]
        db.session.commit()
        held = db.session.get(Member, members[1].id)
        assert held is not None
        assert held.offer == ""
        sent = messaging.deliver_many(
            program,
            [m.id for m in members],
            kind="campaign",
            source_key="campaign:7",
            texts=texts,
            header=header,
            on=ON,
        )
        assert held.offer == "Sale · 11/25"
        db.session.commit()
        rows = db.session.execute(
            select(MemberMessage.member_id, MemberMessage.body, MemberMessage.header)
        ).all()
        assert sorted(rows) == sorted(
            (
                m.id,
                messaging.offer_text(texts, m.language, ON),
                pick(header, m.language),
            )
            for m in members
        )
        assert sorted(sent) == sorted(m.id for m in members)


def test_in_ids_binds_the_ids_as_one_parameter(app: Flask, demo: Demo) -> None:
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        ids = [add_member(program).id for _ in range(3)]
        db.session.commit()

        def found(wanted: list[int]) -> list[int]:
            query = select(Member.id).where(in_ids(Member.id, wanted))
            return sorted(db.session.scalars(query))

        assert found([]) == []
        assert found([ids[2], ids[0], ids[0], 2**31 - 1]) == [ids[0], ids[2]]
        many = [*range(100_000, 140_000), ids[1]]  # past SQLite's 32,766 variables
        assert found(many) == [ids[1]]
        stmt = select(Member.id).where(in_ids(Member.id, many))
        compiled = stmt.compile(db.session.get_bind())
        assert len(compiled.params) == 1


def test_in_ids_is_a_constant_array_on_postgresql(app: Flask, demo: Demo) -> None:
    """The ids reach PostgreSQL's planner as an int[] constant, so a scan hashes
    them once: cast from a VARCHAR parameter (array_in is only stable) it was
    searched linearly for every row, quadratic in the batch (Stop 16)."""
    with app.app_context():
        if db.session.get_bind().dialect.name != "postgresql":
            pytest.skip("PostgreSQL's planner")
        program = db.session.get(Program, demo.program_id)
        ids = [add_member(program).id for _ in range(3)]
        db.session.commit()
        stmt = select(Member.id).where(in_ids(Member.id, [*ids, *range(-50, 0)]))
        compiled = stmt.compile(db.session.get_bind())
        conn = db.session.connection()
        conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(
            row[0]
            for row in conn.exec_driver_sql(
                "EXPLAIN (VERBOSE) " + str(compiled), compiled.params
            )
        )
        db.session.rollback()
        assert "Seq Scan" in plan
        assert "cstring" not in plan
        assert "::integer[]" in plan
        assert sorted(db.session.scalars(stmt)) == sorted(ids)


def test_member_table_leaves_room_for_hot_updates(app: Flask) -> None:
    """PostgreSQL: fillfactor 50 on member (migration 0013_pgenq)."""
    with app.app_context():
        if db.session.get_bind().dialect.name != "postgresql":
            pytest.skip("fillfactor is PostgreSQL's")
        options = db.session.scalar(
            text("SELECT reloptions FROM pg_class WHERE relname = 'member'")
        )
        assert options == ["fillfactor=50"]


def test_per_member_texts_and_source_keys(app: Flask, demo: Demo) -> None:
    """Texts and source keys given per member: each gets their own text; a
    member whose offer already shows it is messaged but their pass stays put;
    Member objects the session holds see the new offer."""
    with app.app_context():
        program = db.session.get(Program, demo.program_id)
        members = [add_member(program) for _ in range(3)]
        for member in members:
            register_device(member)
        same = members[2]
        texts = {
            m.id: {"ru": f"У вас {100 * (i + 1)} баллов"} for i, m in enumerate(members)
        }
        same.offer = messaging.offer_text(texts[same.id], "ru", ON)
        db.session.commit()
        ids = [m.id for m in members]
        before = tags(ids)
        queued = count(PushDelivery)
        held = db.session.get(Member, members[0].id)

        sent = messaging.deliver_each(
            program,
            {i: (f"reminder:{i}", texts[i]) for i in ids},
            kind="points_reminder",
            on=ON,
        )
        db.session.commit()

        assert sorted(sent) == sorted(ids)
        keys = dict(
            db.session.execute(
                select(MemberMessage.member_id, MemberMessage.source_key).where(
                    MemberMessage.member_id.in_(ids)
                )
            ).all()
        )
        assert keys == {i: f"reminder:{i}" for i in ids}
        assert held.offer == "У вас 100 баллов · 25.11"
        assert db.session.get(Member, members[1].id).offer == "У вас 200 баллов · 25.11"
        after = tags(ids)
        assert after[same.id] == before[same.id]
        assert all(after[m.id] > before[m.id] for m in members[:2])
        assert count(PushDelivery) == queued + 2
