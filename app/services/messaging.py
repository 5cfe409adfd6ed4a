"""Saying something to a member: the one path every campaign and automation takes.

Apple Wallet shows no free-form pushes: a notification appears when a field with a
`changeMessage` changes value. So a message becomes the pass's offer field (its
change message is just `%@`), the pass's tag moves and its devices are pushed
through the outbox; a member with a Google object also gets it as an object
message, through the same outbox. Each (member, source) is sent at most once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Member, MemberMessage, Pass, Program
from app.models.base import utcnow
from app.services import outbox
from app.services.passes import move_changed_passes, pass_for_member, refresh_pass
from passes import Text, pick

MAX_TEXT = 150  # leaves room for the date in the 200-character offer field


def offer_text(texts: Text, language: str, on: date) -> str:
    """The text in the member's language, with the date: iPhones notify only when
    the value differs from the last one, so the same words on another day (a
    weekly offer) must still differ."""
    return f"{pick(texts, language).strip()[:MAX_TEXT]} · {on:%d.%m}"


def deliver(
    member: Member,
    *,
    kind: str,
    source_key: str,
    texts: Text,
    header: Text | None = None,
    campaign_id: int | None = None,
    on: date | None = None,
) -> MemberMessage | None:
    """Send a message to one member; None if this source already reached them or
    the member was erased. Only adds to the session; the caller commits."""
    if member.erased_at is not None:
        return None
    already = db.session.scalar(
        select(MemberMessage.id).where(
            MemberMessage.member_id == member.id,
            MemberMessage.source_key == source_key,
        )
    )
    if already is not None:
        return None
    body = offer_text(texts, member.language, on or date.today())
    message = MemberMessage(
        member_id=member.id,
        kind=kind,
        source_key=source_key,
        campaign_id=campaign_id,
        header=pick(header or {"ru": member.program.name}, member.language)[:80],
        body=body,
    )
    try:
        # A savepoint: a concurrent run that sent the same source first wins.
        with db.session.begin_nested():
            db.session.add(message)
            db.session.flush()
    except IntegrityError:
        return None
    member.offer = body
    pass_ = pass_for_member(member)
    with outbox.campaign(campaign_id):
        if pass_ is not None:
            refresh_pass(pass_)
        outbox.enqueue_google(
            member.id,
            outbox.GOOGLE_MESSAGE,
            f"{member.id}:{message.id}",
            pass_id=pass_.id if pass_ is not None else None,
        )
    return message


def deliver_many(
    program: Program,
    member_ids: Sequence[int],
    *,
    kind: str,
    source_key: str | Mapping[int, str],
    texts: Text | Mapping[int, Text],
    header: Text | None = None,
    campaign_id: int | None = None,
    on: date | None = None,
) -> dict[int, int]:
    """`deliver` for a batch of the program's members, set-based: {member id:
    message id} for the members this call messaged (not erased, not reached by
    this source before). Only adds/flushes; the caller commits. `source_key`
    and `texts` are the same for everyone, or given per member id (a win-back
    per lapse, a reminder with the member's own balance).

    One INSERT ... ON CONFLICT DO NOTHING RETURNING records the messages (a
    re-run batch, or a concurrent sender, skips members already messaged), one
    UPDATE per distinct text sets the offer field where it differs, then the
    passes of exactly those members are moved together without re-hashing
    (`move_changed_passes`: one tag range, outbox rows for their devices built by
    the database) and Google messages are queued for live objects.
    """
    if not member_ids:
        return {}
    on = on or date.today()
    members = db.session.execute(
        select(Member.id, Member.language)
        .where(
            Member.id.in_(list(member_ids)),
            Member.program_id == program.id,
            Member.erased_at.is_(None),
        )
        .order_by(Member.id)
    ).all()
    if not members:
        return {}
    header = header or {"ru": program.name}
    now = utcnow()
    body_of = {
        member_id: offer_text(
            texts[member_id] if _per_member(texts) else texts, language, on
        )
        for member_id, language in members
    }
    rows = [
        {
            "member_id": member_id,
            "kind": kind,
            "source_key": source_key
            if isinstance(source_key, str)
            else source_key[member_id],
            "campaign_id": campaign_id,
            "header": pick(header, language)[:80],
            "body": body_of[member_id],
            "created_at": now,
        }
        for member_id, language in members
    ]
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Core executemany (compiled once, sent as multi-row INSERTs with RETURNING).
    stmt = (
        insert(MemberMessage.__table__)
        .on_conflict_do_nothing(index_elements=["member_id", "source_key"])
        .returning(MemberMessage.member_id, MemberMessage.id)
    )
    sent = dict(db.session.connection().execute(stmt, rows).tuples().all())
    if not sent:
        return {}
    changed = (
        _set_own_offers({i: body_of[i] for i in sent})
        if _per_member(texts)
        else _set_shared_offers({i: body_of[i] for i in sent})
    )
    # Their content changed (the offer field): move the tags without re-hashing.
    move_changed_passes(program.id, sorted(changed), campaign_id)
    pass_of = dict(
        db.session.execute(
            select(Pass.member_id, Pass.id).where(Pass.member_id.in_(sorted(sent)))
        )
        .tuples()
        .all()
    )
    outbox.enqueue_google_many(
        [
            (
                member_id,
                outbox.GOOGLE_MESSAGE,
                f"{member_id}:{message_id}",
                pass_of.get(member_id),
            )
            for member_id, message_id in sorted(sent.items())
        ],
        campaign_id,
    )
    return sent


def _set_shared_offers(body_of: dict[int, str]) -> list[int]:
    """Set the offers, one UPDATE per distinct text (a campaign: one per
    language); the members whose offer really changed."""
    by_body: dict[str, list[int]] = {}
    for member_id in sorted(body_of):
        by_body.setdefault(body_of[member_id], []).append(member_id)
    changed: list[int] = []
    for body, ids in by_body.items():
        # Only members whose offer really changes: their passes show something
        # new. "evaluate" keeps Member objects already in the session up to date.
        changed += db.session.scalars(
            update(Member)
            .where(Member.id.in_(ids), Member.offer != body)
            .values(offer=body)
            .returning(Member.id),
            execution_options={"synchronize_session": "evaluate"},
        ).all()
    return sorted(changed)


def _set_own_offers(body_of: dict[int, str]) -> list[int]:
    """Set the offers when each member has a text of their own (one UPDATE per
    text would be one statement per member): read the current offers with the
    rows locked, then one executemany for those that differ. The members whose
    offer really changed."""
    ids = sorted(body_of)
    current = dict(
        db.session.execute(
            select(Member.id, Member.offer)
            .where(Member.id.in_(ids))
            .order_by(Member.id)
            .with_for_update()
        )
        .tuples()
        .all()
    )
    changed = [i for i in ids if current.get(i) != body_of[i]]
    if changed:
        table = Member.__table__
        db.session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(offer=bindparam("b_offer")),
            [{"b_id": i, "b_offer": body_of[i]} for i in changed],
        )
        # Member objects this session holds must not keep the old offer.
        for held in list(db.session.identity_map.values()):
            if isinstance(held, Member) and held.id in body_of:
                db.session.expire(held, ["offer"])
    return changed


def _per_member(texts: Text | Mapping[int, Text]) -> bool:
    """Whether `texts` is keyed by member id (else by language)."""
    return any(isinstance(key, int) for key in texts)


def send_window(program: Program) -> tuple[int, int]:
    """(quiet from, quiet until) hours in the program's time zone, e.g. (21, 9)."""
    start, end = program.rule("quiet_hours")
    return int(start), int(end)


def is_quiet(program: Program, now: datetime) -> bool:
    """Whether `now` (aware) falls in the program's quiet hours."""
    quiet_from, quiet_until = send_window(program)
    hour = now.astimezone(ZoneInfo(program.timezone)).hour
    if quiet_from > quiet_until:  # across midnight, e.g. 21:00-09:00
        return hour >= quiet_from or hour < quiet_until
    return quiet_from <= hour < quiet_until


def next_send_time(program: Program, now: datetime) -> datetime:
    """`now` if messages may go out now, else when the quiet hours end (aware)."""
    if not is_quiet(program, now):
        return now
    zone = ZoneInfo(program.timezone)
    local = now.astimezone(zone)
    _, quiet_until = send_window(program)
    day = local.date() if local.hour < quiet_until else local.date() + timedelta(1)
    return datetime.combine(day, time(quiet_until), zone).astimezone(now.tzinfo)
