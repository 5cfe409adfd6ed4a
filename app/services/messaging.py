"""Saying something to a member: the one path every campaign and automation takes.

Apple Wallet shows no free-form pushes: a notification appears when a field with a
`changeMessage` changes value. So a message becomes the pass's offer field (its
change message is just `%@`), the pass's tag moves and its devices are pushed
through the outbox; a member with a Google object also gets it as an object
message, through the same outbox. Each (member, source) is sent at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, bindparam, case, func, literal, select, update
from sqlalchemy.exc import IntegrityError

from app import database
from app.extensions import db
from app.i18n import DEFAULT_LANGUAGE, day_month
from app.models import Member, MemberMessage, Pass, Program
from app.models.base import UTCDateTime, utcnow
from app.services import outbox
from app.services.idlist import in_ids
from app.services.passes import move_changed_passes, pass_for_member, refresh_pass
from passes import LANGUAGES, Text, pick

MAX_TEXT = 150  # leaves room for the date in the 200-character offer field


def offer_text(texts: Text, language: str, on: date) -> str:
    """The text in the member's language, with the date: iPhones notify only when
    the value differs from the last one, so the same words on another day (a
    weekly offer) must still differ."""
    # The date as Babel writes it in that language ('25.11', '11/25').
    shown = day_month(on, language if language in LANGUAGES else DEFAULT_LANGUAGE)
    return f"{pick(texts, language).strip()[:MAX_TEXT]} · {shown}"


# -- ux: the message_cap rule ---------------------------------------------------------
# Marketing messages the program's `message_cap` limits, highest priority first. A
# message counts only what the member got of its own kind or a higher one, so a
# campaign never crowds out a back-in-stock message the customer asked for, but a
# back-in-stock message can hold a campaign back. Pass updates (balance, tier),
# welcome and points reminders are not capped.
CAPPED_KINDS = (
    "back_in_stock",
    "membership_renewal",
    "birthday",
    "win_back",
    "campaign",
)


def message_cap(program: Program) -> tuple[int, int] | None:
    """(messages, days) of the program's cap, or None."""
    cap = program.rule("message_cap")
    if not isinstance(cap, dict):
        return None
    return int(cap["messages"]), int(cap["days"])


def over_cap(
    program: Program, member_ids: Sequence[int], kind: str, now: datetime | None = None
) -> set[int]:
    """The members a `kind` message would take over the program's cap."""
    cap = message_cap(program)
    if cap is None or kind not in CAPPED_KINDS or not member_ids:
        return set()
    messages, days = cap
    counted = CAPPED_KINDS[: CAPPED_KINDS.index(kind) + 1]
    since = (now or utcnow()) - timedelta(days=days)
    return set(
        db.session.scalars(
            select(MemberMessage.member_id)
            .where(
                in_ids(MemberMessage.member_id, member_ids),
                MemberMessage.kind.in_(counted),
                MemberMessage.created_at >= since,
            )
            .group_by(MemberMessage.member_id)
            .having(func.count() >= messages)
        )
    )


def deliver(
    member: Member,
    *,
    kind: str,
    source_key: str,
    texts: Text,
    header: Text | None = None,
    campaign_id: int | None = None,
    on: date | None = None,
    now: datetime | None = None,
) -> MemberMessage | None:
    """Send a message to one member; None if this source already reached them or
    the member was erased. Only adds to the session; the caller commits."""
    if member.erased_at is not None:
        return None
    if over_cap(member.program, [member.id], kind):
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
    # No installed card: by SMS or e-mail instead, if the program says so.
    from app.services import fallback

    fallback.queue(
        member.program,
        {member.id: message.id},
        kind=kind,
        texts=texts,
        source_key=source_key,
        header=header,
        campaign_id=campaign_id,
        now=now,
    )
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


_MESSAGE_COLUMNS = [
    "member_id",
    "kind",
    "source_key",
    "campaign_id",
    "header",
    "body",
    "created_at",
]


def _per_language(value: Callable[[str], str], languages: Iterable[str]) -> Any:
    """`value(member.language)` as SQL: a CASE over the languages a text can be
    in, else what `pick` gives any other language."""
    return case(
        {language: value(language) for language in sorted(languages)},
        value=Member.language,
        else_=value(""),
    )


class Delivered(NamedTuple):
    """What `record_many` wrote: {member id: message id} of the members it
    messaged, and the offer field still to set for them (member ids, the text
    per language as SQL), which `move_and_notify` sets, moving the passes of
    those whose field changed."""

    sent: dict[int, int]
    offers: list[tuple[list[int], Any]]

    def __add__(self, other: object) -> Delivered:
        assert isinstance(other, Delivered)
        return Delivered({**self.sent, **other.sent}, self.offers + other.offers)


NOTHING = Delivered({}, [])


def deliver_many(
    program: Program,
    member_ids: Sequence[int],
    *,
    kind: str,
    source_key: str,
    texts: Text,
    header: Text | None = None,
    campaign_id: int | None = None,
    on: date | None = None,
    now: datetime | None = None,
) -> dict[int, int]:
    """`deliver` for a batch of the program's members, set-based: {member id:
    message id} for the members this call messaged (not erased, not reached by
    this source before). Only adds/flushes; the caller commits.

    `record_many`, then `move_and_notify` at once. A caller with more to write
    in the same transaction (a campaign's offers and results) calls the two
    itself and moves the passes last: the move takes the program's tag row,
    which every purchase in the program needs, until commit.
    """
    delivered = record_many(
        program,
        member_ids,
        kind=kind,
        source_key=source_key,
        texts=texts,
        header=header,
        campaign_id=campaign_id,
        on=on,
        now=now,
    )
    move_and_notify(program, delivered, campaign_id)
    return delivered.sent


def record_many(
    program: Program,
    member_ids: Sequence[int],
    *,
    kind: str,
    source_key: str,
    texts: Text,
    header: Text | None = None,
    campaign_id: int | None = None,
    on: date | None = None,
    now: datetime | None = None,
) -> Delivered:
    """`deliver_many` up to the passes' move: the messages, fallbacks and offer
    fields. Only adds/flushes; the caller moves the passes (`move_and_notify`)
    in the same transaction, then commits.

    One INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING records the
    messages (a re-run batch, or a concurrent sender, skips members already
    messaged; the text per language is a CASE, so no row goes through Python),
    one UPDATE sets the offer field where it differs, then the passes of exactly
    those members are moved together without re-hashing (`move_changed_passes`:
    one tag range, outbox rows for their devices built by the database) and
    Google messages are queued for live objects. Each list of ids is one bound
    parameter (`in_ids`).
    """
    held = over_cap(program, member_ids, kind)
    if held:
        member_ids = [i for i in member_ids if i not in held]
    if not member_ids:
        return NOTHING
    on = on or date.today()
    header = header or {"ru": program.name}
    languages = {*LANGUAGES, *texts, *header}
    body = _per_language(lambda language: offer_text(texts, language, on), languages)
    table = MemberMessage.__table__
    stamp = utcnow()  # `now` is the send moment the caller passed
    rows = (
        select(
            Member.id,
            literal(kind),
            literal(source_key),
            literal(campaign_id, Integer),
            _per_language(lambda language: pick(header, language)[:80], languages),
            body,
            literal(stamp, UTCDateTime()),
        )
        .where(
            in_ids(Member.id, member_ids),
            Member.program_id == program.id,
            Member.erased_at.is_(None),
        )
        .order_by(Member.id)
    )
    stmt = (
        database.insert(table)
        .from_select(_MESSAGE_COLUMNS, rows)
        .on_conflict_do_nothing(index_elements=["member_id", "source_key"])
        .returning(table.c.member_id, table.c.id)
    )
    sent = dict(db.session.execute(stmt).tuples().all())
    if not sent:
        return NOTHING
    _fallback(
        program,
        sent,
        kind=kind,
        texts=texts,
        source_key=source_key,
        header=header,
        campaign_id=campaign_id,
        now=now,
    )
    return Delivered(sent, [(sorted(sent), body)])


def deliver_each(
    program: Program,
    messages: Mapping[int, tuple[str, Text]],
    *,
    kind: str,
    header: Text | None = None,
    on: date | None = None,
    now: datetime | None = None,
) -> dict[int, int]:
    """`deliver_many` for members who each have their own source key and texts
    (a win-back keyed by the member's lapse, a reminder with their own balance):
    {member id: message id} for those this call messaged. Only adds/flushes.

    The texts differ per member, so the rows are built here and inserted by one
    executemany INSERT ... ON CONFLICT DO NOTHING RETURNING; the offers are set
    by one locked read of the current ones and one executemany UPDATE of those
    that differ (not a statement per text); then as `deliver_many`.
    """
    held = over_cap(program, list(messages), kind)
    if held:
        messages = {i: m for i, m in messages.items() if i not in held}
    if not messages:
        return {}
    on = on or date.today()
    header = header or {"ru": program.name}
    members = db.session.execute(
        select(Member.id, Member.language)
        .where(
            in_ids(Member.id, list(messages)),
            Member.program_id == program.id,
            Member.erased_at.is_(None),
        )
        .order_by(Member.id)
    ).all()
    stamp = utcnow()  # `now` is the send moment the caller passed
    body_of: dict[int, str] = {}
    rows = []
    for member_id, language in members:
        source_key, texts = messages[member_id]
        body_of[member_id] = offer_text(texts, language, on)
        rows.append(
            {
                "member_id": member_id,
                "kind": kind,
                "source_key": source_key,
                "campaign_id": None,
                "header": pick(header, language)[:80],
                "body": body_of[member_id],
                "created_at": stamp,
            }
        )
    if not rows:
        return {}
    table = MemberMessage.__table__
    stmt = (
        database.insert(table)
        .on_conflict_do_nothing(index_elements=["member_id", "source_key"])
        .returning(table.c.member_id, table.c.id)
    )
    sent = dict(db.session.connection().execute(stmt, rows).tuples().all())
    if not sent:
        return {}
    _fallback(
        program,
        sent,
        kind=kind,
        own={i: messages[i] for i in sent},
        header=header,
        now=now,
    )
    changed = _set_own_offers({i: body_of[i] for i in sent})
    _move(program, sent, changed, None)
    return sent


def _fallback(program: Program, sent: Mapping[int, int], **message: Any) -> None:
    """Members just messaged with no installed card: SMS or e-mail instead, as
    the program's `fallback_channels` rule says (services.fallback)."""
    from app.services import fallback  # it reads the quiet hours from here

    fallback.queue(program, sent, **message)


def _set_own_offers(body_of: dict[int, str]) -> set[int]:
    """Set each member's own offer where it differs: one read of the current
    offers with the rows locked, one executemany UPDATE; who changed."""
    ids = sorted(body_of)
    current = dict(
        db.session.execute(
            select(Member.id, Member.offer)
            .where(in_ids(Member.id, ids))
            .order_by(Member.id)
            .with_for_update()
        )
        .tuples()
        .all()
    )
    changed = {i for i in ids if current.get(i) != body_of[i]}
    if changed:
        table = Member.__table__
        db.session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(offer=bindparam("b_offer")),
            [{"b_id": i, "b_offer": body_of[i]} for i in sorted(changed)],
        )
    return changed


def move_and_notify(
    program: Program, delivered: Delivered, campaign_id: int | None
) -> None:
    """After the messages (and a campaign's offers and results): the members'
    offer fields are set, the passes of those whose field changed move (tags,
    pushes) and live Google objects get the message.

    Call it last in the transaction: the UPDATE of the offer fields locks the
    members' rows and the move the program's tag row until commit, and a
    purchase needs both (its card's member row, then the tag)."""
    sent, offers = delivered
    if not sent:
        return
    # Only members whose offer really changes: their passes show something new.
    members = Member.__table__
    changed: set[int] = set()
    for member_ids, body in offers:
        changed.update(
            db.session.scalars(
                update(members)
                .where(in_ids(members.c.id, member_ids), members.c.offer != body)
                .values(offer=body)
                .returning(members.c.id)
            )
        )
    _move(program, sent, changed, campaign_id)


def _move(
    program: Program, sent: dict[int, int], changed: set[int], campaign_id: int | None
) -> None:
    """The passes of the `changed` members move; live Google objects of the
    `sent` get the message."""
    # Member objects this session holds must not keep their old offer.
    for held in list(db.session.identity_map.values()):
        if isinstance(held, Member) and held.id in changed:
            db.session.expire(held, ["offer"])
    # Their content changed (the offer field): move the tags without re-hashing.
    move_changed_passes(program.id, sorted(changed), campaign_id)
    if outbox.google_enabled():
        pass_of = dict(
            db.session.execute(
                select(Pass.member_id, Pass.id).where(in_ids(Pass.member_id, sent))
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


class QuietHours(NamedTuple):
    """Hours in the program's time zone, e.g. (21, 9): 21:00 to 09:00."""

    start: int
    end: int


def send_window(program: Program) -> QuietHours:
    """The program's quiet hours: no pushes from `start` until `end`."""
    start, end = program.rule("quiet_hours")
    return QuietHours(int(start), int(end))


def is_quiet(program: Program, now: datetime) -> bool:
    """Whether `now` (aware) falls in the program's quiet hours."""
    return open_at(send_window(program), program.timezone, now) != now


def next_send_time(program: Program, now: datetime) -> datetime:
    """`now` if messages may go out now, else when the quiet hours end (aware)."""
    return open_at(send_window(program), program.timezone, now)


def open_at(window: QuietHours, timezone: str, now: datetime) -> datetime:
    """`now` if it is outside the quiet hours `window` (local hours of
    `timezone`), else when they end (aware). Pure: the worker holds a fallback
    SMS/e-mail with it (`app.push.messages`), without the program row."""
    quiet_from, quiet_until = window
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    hour = local.hour
    if quiet_from > quiet_until:  # across midnight, e.g. 21:00-09:00
        quiet = hour >= quiet_from or hour < quiet_until
    else:
        quiet = quiet_from <= hour < quiet_until
    if not quiet:
        return now
    day = local.date() if local.hour < quiet_until else local.date() + timedelta(1)
    return datetime.combine(day, time(quiet_until), zone).astimezone(now.tzinfo)
