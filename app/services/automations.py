"""Automations: birthday, win-back, welcome and points reminder.

Each is a function of (program, moment) that sends what is due at that moment and
is safe to run again and from several workers at once: every message is keyed
per member (`messaging.deliver` records one `MemberMessage` per source key) and
the birthday bonus has a unique ledger idempotency key per member and year.
Messages due in the program's quiet hours wait for them to end (the job simply
finds nothing to do until then). Settings live in `Automation` rows per program;
missing keys fall back to DEFAULTS.
"""

from __future__ import annotations

import calendar
import logging
import re
import string
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import (
    CursorResult,
    and_,
    delete,
    exists,
    extract,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from app import database
from app.extensions import db
from app.i18n import N_, day_month, localized, number, points_text, text_in
from app.models import (
    Assignment,
    Automation,
    AutomationRun,
    LedgerEntry,
    Member,
    MemberMessage,
    Offer,
    Pass,
    PosTransaction,
    Program,
)
from app.models.base import utcnow
from app.services import (
    checks,
    feedback,
    ledger,
    messaging,
    offers,
    results,
    segments,
)
from app.services.errors import Conflict, DomainError, Invalid
from app.services.passes import public_url, refresh_passes
from app.services.scheduler import scheduled

# Runs the dashboard and `last_runs` show; the history keeps at least these.
RUNS_SHOWN = 10
# Runs kept per automation (and so per program) unless AUTOMATION_RUN_KEEP says.
RUNS_KEPT = 100


DEFAULTS: dict[str, dict[str, Any]] = {
    "birthday": {
        "hour": 10,  # local time the greeting goes out (if not in quiet hours)
        "bonus_points": 200,
        "offer_days": 7,
        "texts": localized(N_("Happy birthday! +{points_text} and −15% till {until}")),
    },
    "win_back": {
        "factor": 2.0,  # lapsed after factor x the member's usual interval
        "min_purchases": 3,  # fewer purchases: lapsed after `days`
        "days": 60,
        "texts": localized(N_("We miss you! Your next purchase: −10%")),
        # Each message carries a «почему вы перестали заходить?» rating link
        # (services.feedback, kind "winback"); the pass links to it too.
        "feedback_link": False,
    },
    "welcome": {
        "within_days": 7,  # members who joined this recently and got no welcome
        "texts": localized(N_("Welcome! Show your card at the till")),
    },
    "points_reminder": {
        "min_points": 500,
        "days": 30,  # no visit for this long
        "texts": localized(N_("You have {points_text} to spend in store")),
    },
    # Paid membership (services.memberships): N days before its end, once per end.
    "membership_renewal": {
        "days_before": 7,
        "texts": localized(N_("Your {plan} membership ends on {until}: renew it")),
    },
}
NAMES = tuple(DEFAULTS)
# Messages sent by an event, not on a schedule (services.catalog sends
# back-in-stock on a restock), with settings kept in an Automation row like the
# others: only the optional `offer_id`. Never run, listed or switched off here
# (the customer asked for the message); configured through the same API.
EVENT_SETTINGS: dict[str, dict[str, Any]] = {"back_in_stock": {}}
# The placeholders each automation fills in its texts ({points} etc.); a text
# naming any other is refused when saved, not at every run.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "birthday": ("points", "points_text", "until"),
    "win_back": (),
    "welcome": (),
    "points_reminder": ("points", "points_text"),
    "membership_renewal": ("plan", "until"),
}
# Results (issue 16): every automation holds out a control group (not
# messaged, no bonus) and is measured over an attribution window.
RESULTS_SETTINGS = ("holdout_percent", "attribution_days")
for _defaults in DEFAULTS.values():
    _defaults["holdout_percent"] = results.HOLDOUT_DEFAULT
    _defaults["attribution_days"] = results.ATTRIBUTION_DAYS
_INT_PARAMS = {"hour": (0, 23), "bonus_points": (0, 100_000), "offer_days": (1, 365)}
_INT_PARAMS |= {"min_purchases": (2, 1000), "days": (1, 3650), "within_days": (1, 365)}
_INT_PARAMS |= {"min_points": (1, 10_000_000), "days_before": (1, 60)}
_INT_PARAMS |= {
    "holdout_percent": (0, results.MAX_HOLDOUT),
    "attribution_days": (1, results.MAX_ATTRIBUTION_DAYS),
}
_FLOAT_PARAMS = {"factor": (1.0, 100.0)}
# Settings that are on or off.
FLAGS = ("feedback_link",)
BATCH = 500
log = logging.getLogger(__name__)


# -- settings ------------------------------------------------------------------


class Limits(NamedTuple):
    """A numeric setting's type (int or float) and its range."""

    kind: type[int] | type[float]
    low: float
    high: float


def limits(key: str) -> Limits | None:
    """The type and range of a numeric setting, else None."""
    if key in _INT_PARAMS:
        return Limits(int, *_INT_PARAMS[key])
    if key in _FLOAT_PARAMS:
        return Limits(float, *_FLOAT_PARAMS[key])
    return None


def automation(program: Program, name: str) -> Automation:
    """The program's row for `name`, created (disabled) on first use."""
    if name not in DEFAULTS and name not in EVENT_SETTINGS:
        raise Invalid(
            "unknown_automation",
            f"automation must be one of {', '.join((*NAMES, *EVENT_SETTINGS))}",
        )
    row = db.session.scalar(
        select(Automation).where(
            Automation.program_id == program.id, Automation.name == name
        )
    )
    if row is None:
        row = Automation(
            program_id=program.id, name=name, enabled=False, settings={}, last_result={}
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:  # another process created it first
            row = db.session.scalars(
                select(Automation).where(
                    Automation.program_id == program.id, Automation.name == name
                )
            ).one()
    return row


def settings(row: Automation) -> dict[str, Any]:
    return {**_defaults_of(row.name), **(row.settings or {})}


def _defaults_of(name: str) -> dict[str, Any]:
    return DEFAULTS[name] if name in DEFAULTS else EVENT_SETTINGS[name]


def configured(program: Program, name: str) -> dict[str, Any]:
    """The automation's settings without creating its row (a read)."""
    row = db.session.scalar(
        select(Automation).where(
            Automation.program_id == program.id, Automation.name == name
        )
    )
    return settings(row) if row is not None else dict(_defaults_of(name))


def view(row: Automation, runs: int = RUNS_SHOWN) -> dict[str, Any]:
    """The automation as JSON, with its `runs` latest recorded runs."""
    return {
        "name": row.name,
        "enabled": row.enabled,
        "settings": settings(row),
        "last_run_at": row.last_run_at.isoformat() if row.last_run_at else None,
        "last_result": row.last_result or {},
        "last_runs": [run_view(r) for r in recent_runs(row, runs)],
    }


def placeholders(template: str) -> list[str | None]:
    """The placeholders a text names, in order (None for a positional `{}`);
    ValueError when its braces do not pair (a lone `{`; `{{` is a brace)."""
    found: list[str | None] = []
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        # "{points!r}" or "{points:>5}" are not what we offer either.
        whole = (
            field
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
        )
        found.append(whole or None)
    return found


def check_template(name: str, field: str, template: str) -> None:
    """422 `invalid_placeholder` unless every {placeholder} in `template` is one
    automation `name` fills (a format spec or conversion counts as unknown).
    The envelope names the `field`, the `placeholder` and what is `allowed`."""
    offered = PLACEHOLDERS[name]
    allowed = ", ".join(f"{{{p}}}" for p in offered)
    try:
        found = placeholders(template)
    except ValueError:
        raise Invalid(
            "invalid_placeholder",
            f"{field}: unpaired brace (write {{{{ and }}}} for a brace); "
            f"placeholders: {allowed or 'none'}",
            field=field,
            placeholder="{",
            allowed=allowed,
        ) from None
    for placeholder in found:
        if placeholder not in offered:
            shown = f"{{{placeholder or ''}}}"
            raise Invalid(
                "invalid_placeholder",
                f"{field}: unknown placeholder {shown}; "
                f"placeholders: {allowed or 'none'}",
                field=field,
                placeholder=shown,
                allowed=allowed,
            )


def _check_texts(name: str, value: Any) -> dict[str, str]:
    texts = checks.localized(
        value, "texts", "invalid_texts", longest=messaging.MAX_TEXT
    )
    for language, template in texts.items():
        check_template(name, f"texts.{language}", template)
    return texts


def configure(row: Automation, changes: Any) -> None:
    """Apply {"enabled", "settings": {...}}; 422 (nothing changed) on bad input."""
    if not isinstance(changes, dict) or set(changes) - {"enabled", "settings"}:
        raise Invalid("invalid_body", "body may hold only enabled and settings")
    enabled = checks.flag(
        changes.get("enabled", row.enabled), "enabled", "invalid_enabled"
    )
    new = dict(row.settings or {})
    given = checks.mapping(changes.get("settings") or {}, "settings", "invalid_body")
    for key, value in given.items():
        if key == OFFER_SETTING:
            new[key] = _check_offer(row, value)
            continue
        if key not in _defaults_of(row.name):
            raise Invalid("unknown_setting", f"{row.name} has no setting {key!r}")
        if key == "texts":
            new[key] = _check_texts(row.name, value)
        elif key in FLAGS:
            new[key] = checks.flag(value, key, "invalid_setting")
        elif key in _INT_PARAMS:
            new[key] = checks.whole(value, key, *_INT_PARAMS[key], "invalid_setting")
        else:
            new[key] = checks.number(value, key, *_FLOAT_PARAMS[key], "invalid_setting")
    row.enabled = enabled
    row.settings = new


# -- the automation's offer (services.offers) -------------------------------------

# Optional setting of every automation: the offer each member it reaches gets.
OFFER_SETTING = "offer_id"


def _check_offer(row: Automation, value: Any) -> int | None:
    if value is None:
        return None
    return offers.issuable(row.program_id, value, utcnow()).id


def _offer(program: Program, conf: dict[str, Any], now: datetime) -> Offer | None:
    """The offer to issue with this run's messages, if set and still issuable."""
    offer_id = conf.get(OFFER_SETTING)
    if offer_id is None:
        return None
    offer = db.session.get(Offer, offer_id)
    if offer is None or offer.program_id != program.id or offer.archived_at:
        return None
    if offer.valid_until is not None and offer.valid_until <= now:
        return None
    return offer


def event_offer(program: Program, name: str, now: datetime) -> Offer | None:
    """The offer an event-sent message carries (EVENT_SETTINGS), if set and
    still issuable."""
    return _offer(program, configured(program, name), now)


def _issue(
    offer: Offer | None, name: str, sources: dict[int, str], now: datetime
) -> None:
    """Members this run messaged get the offer, keyed by their message's source
    (one instance per birthday year, lapse, month...)."""
    if offer is not None and sources:
        offers.issue_each(
            offer, sources, source_kind="automation", source_ref=name, now=now
        )


# -- helpers -------------------------------------------------------------------


# Saved templates from before {points_text}: "{points} баллов" is wrong for 1,
# 2-4, 21..., so the count and its word become {points_text} when sent.
_COUNT_AND_WORD = re.compile(r"\{points\}(?:\s|\u00a0)*(?:баллов|балла|балл|points?)\b")


def fill(
    texts: dict[str, str],
    points: int | None = None,
    until: date | None = None,
    plan: dict[str, str] | None = None,
) -> dict[str, str]:
    """A template's texts with the placeholders filled per language:
    {points} the number ("1 250"), {points_text} the number and its word in
    the right plural ("1 балл", "2 балла", "5 баллов"), {until} a day and month.

    A text saved before templates were checked may name one we do not fill:
    409 `invalid_template` (a run by hand says so; a scheduled run records it)
    instead of a KeyError."""
    filled = {}
    for language, text in texts.items():
        values: dict[str, str] = {}
        if points is not None:
            values["points"] = number(points, language)
            values["points_text"] = points_text(points, language)
            text = _COUNT_AND_WORD.sub("{points_text}", text)
        if until is not None:
            values["until"] = day_month(until, language)
        if plan is not None:
            values["plan"] = plan.get(language) or plan.get("ru", "")
        try:
            filled[language] = text.format(**values)
        except (KeyError, IndexError, ValueError, AttributeError) as error:
            offered = ", ".join(f"{{{name}}}" for name in values) or "none"
            raise Conflict(
                "invalid_template",
                f"The automation's texts use a placeholder it does not fill; save "
                f"them again (placeholders: {offered}).",
            ) from error
    return filled


def _members(program: Program, *columns: Any, marketing: bool = False) -> Any:
    """The program's members still here: their ids, and `columns`; `marketing`:
    only those who did not switch off offers."""
    query = select(Member.id, *columns).where(
        Member.program_id == program.id, Member.erased_at.is_(None)
    )
    if marketing:
        query = query.where(Member.marketing_off_at.is_(None))
    return query


class MonthDay(NamedTuple):
    month: int
    day: int


def birthday_dates(day: date) -> list[MonthDay]:
    """The birthdays celebrated on `day` (29 Feb -> 28 Feb in common years)."""
    pairs = [MonthDay(day.month, day.day)]
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        pairs.append(MonthDay(2, 29))
    return pairs


class Visits(NamedTuple):
    """A member's purchases not refunded: how many, the first and the last."""

    purchases: int
    first: datetime
    last: datetime


def _last_visits(program: Program, member_ids: list[int]) -> dict[int, Visits]:
    """member id -> their Visits (members with no purchase are left out)."""
    rows = db.session.execute(
        select(
            PosTransaction.member_id,
            func.count(),
            func.min(PosTransaction.created_at),
            func.max(PosTransaction.created_at),
        )
        .where(
            PosTransaction.program_id == program.id,
            PosTransaction.refunded_at.is_(None),
            PosTransaction.member_id.in_(member_ids),
        )
        .group_by(PosTransaction.member_id)
    ).all()
    return {row[0]: Visits(row[1], row[2], row[3]) for row in rows}


def _batches(query: Any) -> Any:
    """The query's member rows in batches by id (bounded memory), committing
    after each batch: a run over a million members must not hold its locks
    (SQLite's one writer, PostgreSQL's member rows) to the end, and a crash
    keeps what was sent. Every send is recorded per member and source, so a
    re-run skips whoever was reached."""
    after = 0
    while True:
        batch = db.session.execute(
            query.where(Member.id > after).order_by(Member.id).limit(BATCH)
        ).all()
        if not batch:
            return
        yield batch
        db.session.commit()
        database.begin_write()  # SQLite: a writer again for the next batch
        after = batch[-1].id


# -- the automations -----------------------------------------------------------


def run_birthday(program: Program, conf: dict[str, Any], local: datetime) -> int:
    today = local.date()
    until = today + timedelta(days=int(conf["offer_days"]))
    match = or_(
        *(
            and_(
                extract("month", Member.birthday) == m,
                extract("day", Member.birthday) == d,
            )
            for m, d in birthday_dates(today)
        )
    )
    sent = 0
    offer = _offer(program, conf, local.astimezone(UTC))
    source = f"birthday:{today.year}"
    for batch in _batches(
        _members(program, marketing=True).where(Member.birthday.is_not(None), match)
    ):
        treated = _hold_out(program, conf, "birthday", {r.id: source for r in batch})
        messaged = []
        for row in batch:
            if row.id not in treated or _already(row.id, source):
                continue
            member = ledger.lock_member(row.id)
            key = f"birthday:{member.id}:{today.year}"
            points = int(conf["bonus_points"])
            if (
                points
                and db.session.scalar(
                    select(LedgerEntry.id).where(LedgerEntry.idempotency_key == key)
                )
                is None
            ):
                ledger.post(
                    member, "bonus", points, idempotency_key=key, note="birthday"
                )
            texts = fill(conf["texts"], points=points, until=until)
            if messaging.deliver(
                member,
                kind="birthday",
                source_key=source,
                texts=texts,
                on=today,
                now=local,
            ):
                sent += 1
                _issue(offer, "birthday", {member.id: source}, local.astimezone(UTC))
                messaged.append(member.id)
        results.mark_reached(messaged, [source])
    return sent


def _hold_out(
    program: Program, conf: dict[str, Any], name: str, sources: dict[int, str]
) -> set[int]:
    """Record the batch's control group and treated members (results); the
    members who may be messaged."""
    return results.hold_out(program.id, sources, int(conf["holdout_percent"]), name)


def _deliver_treated(
    program: Program,
    conf: dict[str, Any],
    name: str,
    messages: dict[int, tuple[str, dict[str, str]]],
    on: date,
    now: datetime | None = None,
) -> list[int]:
    """deliver_each to the treated among `messages` only; the members messaged."""
    treated = _hold_out(
        program, conf, name, {m: key for m, (key, _) in messages.items()}
    )
    sent = messaging.deliver_each(
        program,
        {m: v for m, v in messages.items() if m in treated},
        kind=name,
        on=on,
        now=now,
    )
    results.mark_reached(sent, {messages[m][0] for m in sent})
    return list(sent)


def _already(member_id: int, source_key: str) -> bool:
    return (
        db.session.scalar(
            select(MemberMessage.id).where(
                MemberMessage.member_id == member_id,
                MemberMessage.source_key == source_key,
            )
        )
        is not None
    )


def lapse_starts(
    program: Program, conf: dict[str, Any], now: datetime, member_ids: list[int]
) -> dict[int, datetime]:
    """Those of `member_ids` lapsed at `now` -> when their lapse began: the one
    definition the `lapsed` segment uses too (`segments.lapsed_members`)."""
    lapsed = segments.lapsed_members(
        program.id,
        now,
        float(conf["factor"]),
        int(conf["days"]),
        int(conf["min_purchases"]),
        member_ids=member_ids,
    )
    return {
        int(member_id): datetime.fromtimestamp(float(start), UTC)
        for member_id, start in db.session.execute(select(lapsed))
    }


def run_win_back(program: Program, conf: dict[str, Any], local: datetime) -> int:
    now = local.astimezone(UTC)
    texts = fill(conf["texts"])  # no placeholders: "{{" still means "{"
    sent = 0
    offer = _offer(program, conf, now)
    for batch in _batches(_members(program, Member.created_at, marketing=True)):
        starts = lapse_starts(program, conf, now, [m.id for m in batch])
        # Members due now, each keyed by their lapse (one message per lapse).
        due = {
            member_id: f"winback:{start.date().isoformat()}"
            for member_id, start in starts.items()
        }
        messages = {member_id: (key, texts) for member_id, key in due.items()}
        if conf.get("feedback_link"):
            reached = _deliver_asking_why(program, conf, messages, local.date(), now)
        else:
            reached = _deliver_treated(
                program, conf, "win_back", messages, local.date(), local
            )
        _issue(offer, "win_back", {m: due[m] for m in reached}, now)
        sent += len(reached)
    return sent


WHY_TEXT = N_("Why did you stop coming?")


def _deliver_asking_why(
    program: Program,
    conf: dict[str, Any],
    messages: dict[int, tuple[str, dict[str, str]]],
    on: date,
    now: datetime,
) -> list[int]:
    """`_deliver_treated` with a win-back rating request per treated member:
    the link follows the text when it fits the message, and the pass links to
    it anyway. Requests whose message did not go out are taken back."""
    treated = _hold_out(
        program, conf, "win_back", {m: key for m, (key, _) in messages.items()}
    )
    tokens = feedback.ask_winback(
        program, {m: messages[m][0] for m in messages if m in treated}, now
    )
    own: dict[int, tuple[str, dict[str, str]]] = {}
    for member_id, (key, texts) in messages.items():
        if member_id not in treated:
            continue
        if member_id in tokens:
            url = public_url(f"/f/{tokens[member_id]}")
            with_link = {}
            for language, text in texts.items():
                line = f"{text} {text_in(language, WHY_TEXT)} {url}"
                with_link[language] = line if len(line) <= messaging.MAX_TEXT else text
            texts = with_link
        own[member_id] = (key, texts)
    sent = messaging.deliver_each(program, own, kind="win_back", on=on, now=now)
    feedback.withdraw(program, {m: t for m, t in tokens.items() if m not in sent})
    results.mark_reached(sent, {messages[m][0] for m in sent})
    return list(sent)


def run_welcome(program: Program, conf: dict[str, Any], local: datetime) -> int:
    now = local.astimezone(UTC)
    since = now - timedelta(days=int(conf["within_days"]))
    welcomed = exists().where(
        MemberMessage.member_id == Member.id, MemberMessage.source_key == "welcome"
    )
    held_out = exists().where(
        Assignment.member_id == Member.id, Assignment.source_key == "welcome"
    )
    query = _members(program).where(
        Member.created_at >= since, Member.created_at <= now, ~welcomed, ~held_out
    )
    sent = 0
    offer = _offer(program, conf, now)
    for batch in _batches(query):
        treated = _hold_out(program, conf, "welcome", {m.id: "welcome" for m in batch})
        reached = messaging.deliver_many(
            program,
            sorted(treated),
            kind="welcome",
            source_key="welcome",
            texts=fill(conf["texts"]),
            on=local.date(),
        )
        results.mark_reached(reached, ["welcome"])
        if offer is not None and reached:
            offers.issue_many(
                offer,
                list(reached),
                source="welcome",
                source_kind="automation",
                source_ref="welcome",
                now=now,
            )
        sent += len(reached)
    return sent


def run_points_reminder(program: Program, conf: dict[str, Any], local: datetime) -> int:
    now = local.astimezone(UTC)
    idle_since = now - timedelta(days=int(conf["days"]))
    key = f"reminder:{local:%Y-%m}"
    query = _members(program, Member.points).where(
        Member.points >= int(conf["min_points"]), Member.created_at <= idle_since
    )
    sent = 0
    offer = _offer(program, conf, now)
    for batch in _batches(query):
        visits = _last_visits(program, [m.id for m in batch])
        # Each member's own balance in the text.
        due = {
            member.id: (key, fill(conf["texts"], points=member.points))
            for member in batch
            if (visit := visits.get(member.id)) is None or visit.last <= idle_since
        }
        reached = _deliver_treated(
            program, conf, "points_reminder", due, local.date(), local
        )
        _issue(offer, "points_reminder", dict.fromkeys(reached, key), now)
        sent += len(reached)
    return sent


def run_membership_renewal(
    program: Program, conf: dict[str, Any], local: datetime
) -> int:
    """Members whose paid membership ends within `days_before` days: one
    reminder per membership end (a renewal moves the end: a new reminder then).
    A marketing message: consent, quiet hours, holdout and the message cap
    (ranked just below back-in-stock) apply as for the others."""
    from app.models import MembershipPlan

    now = local.astimezone(UTC)
    zone = ZoneInfo(program.timezone)
    query = _members(
        program, Member.membership_ends_at, MembershipPlan.name, marketing=True
    ).join(MembershipPlan, MembershipPlan.id == Member.membership_plan_id)
    query = query.where(
        Member.membership_ends_at > now,
        Member.membership_ends_at <= now + timedelta(days=int(conf["days_before"])),
    )
    sent = 0
    offer = _offer(program, conf, now)
    for batch in _batches(query):
        due = {}
        for member in batch:
            last = member.membership_ends_at.astimezone(zone).date()
            key = f"membership_renewal:{member.membership_ends_at:%Y%m%d%H%M%S}"
            due[member.id] = (key, fill(conf["texts"], until=last, plan=member.name))
        reached = _deliver_treated(
            program, conf, "membership_renewal", due, local.date()
        )
        _issue(offer, "membership_renewal", {m: due[m][0] for m in reached}, now)
        sent += len(reached)
    return sent


RUNNERS: dict[str, Callable[[Program, dict[str, Any], datetime], int]] = {
    "birthday": run_birthday,
    "win_back": run_win_back,
    "welcome": run_welcome,
    "points_reminder": run_points_reminder,
    "membership_renewal": run_membership_renewal,
}


def run(
    program: Program,
    name: str,
    now: datetime,
    *,
    force: bool = False,
    trigger: str = "manual",
) -> dict[str, Any]:
    """Run one automation for the moment `now` (aware). Waits (sends nothing) in
    quiet hours and, for the birthday, before its hour. `force`: run even if off.
    A completed run is recorded (`AutomationRun`) with its `trigger`."""
    # On SQLite a run that reads and then writes while another writer commits
    # would fail ("database is locked"): it begins as a writer (a no-op on
    # PostgreSQL, and when the caller's transaction has already begun).
    database.begin_write()
    row = automation(program, name)
    conf = settings(row)
    local = now.astimezone(ZoneInfo(program.timezone))
    result: dict[str, Any] = {"date": local.date().isoformat(), "sent": 0}
    if not (row.enabled or force):
        result["skipped"] = "disabled"
        return result
    if messaging.is_quiet(program, now) or (
        name == "birthday" and local.hour < int(conf["hour"])
    ):
        result["waiting_until"] = (
            _due_time(program, name, conf, now).astimezone(UTC).isoformat()
        )
        return result
    started = utcnow()
    result["sent"] = RUNNERS[name](program, conf, local)
    row.last_run_at = utcnow()
    row.last_result = result
    record_run(row, trigger, local.date(), result["sent"], started)
    return result


def runs_kept() -> int:
    """How many runs of each automation the history keeps (never fewer than the
    RUNS_SHOWN the dashboard shows)."""
    configured = current_app.config.get("AUTOMATION_RUN_KEEP")
    return max(RUNS_SHOWN, int(configured) if configured else RUNS_KEPT)


def prune_runs(row: Automation, keep: int) -> None:
    """Delete the automation's runs older than its `keep` newest, in one
    statement (ids grow with time; two workers pruning at once do no harm)."""
    oldest_dropped = (
        select(AutomationRun.id)
        .where(AutomationRun.automation_id == row.id)
        .order_by(AutomationRun.id.desc())
        .offset(keep)
        .limit(1)
        .scalar_subquery()
    )
    db.session.execute(
        delete(AutomationRun)
        .where(
            AutomationRun.automation_id == row.id,
            AutomationRun.id <= oldest_dropped,
        )
        .execution_options(synchronize_session=False)
    )


def record_run(
    row: Automation,
    trigger: str,
    day: date,
    sent: int,
    started: datetime,
    error: str | None = None,
) -> None:
    """Add the run to the history. A scheduled run for the same date (and the
    same error, or none) as the latest recorded scheduled run is folded into it
    (welcome runs every tick; a failing program fails at every tick). A new row
    prunes the automation's history to its newest `runs_kept()` in the same
    transaction, so the table stays bounded."""
    latest = db.session.scalar(
        select(AutomationRun)
        .where(AutomationRun.automation_id == row.id)
        .order_by(AutomationRun.id.desc())
        .limit(1)
    )
    if (
        trigger == "scheduler"
        and latest is not None
        and latest.trigger == "scheduler"
        and latest.for_date == day
        and latest.error == error
    ):
        # In SQL, so that two workers folding at once both count.
        db.session.execute(
            update(AutomationRun)
            .where(AutomationRun.id == latest.id)
            .values(
                sent=AutomationRun.sent + sent,
                runs=AutomationRun.runs + 1,
                finished_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        db.session.expire(latest)
        return
    db.session.add(
        AutomationRun(
            automation_id=row.id,
            program_id=row.program_id,
            trigger=trigger,
            for_date=day,
            sent=sent,
            runs=1,
            started_at=started,
            finished_at=utcnow(),
            error=error,
        )
    )
    db.session.flush()
    prune_runs(row, runs_kept())


def recent_runs(row: Automation, limit: int = RUNS_SHOWN) -> list[AutomationRun]:
    """The automation's latest recorded runs, newest first."""
    return list(
        db.session.scalars(
            select(AutomationRun)
            .where(AutomationRun.automation_id == row.id)
            .order_by(AutomationRun.id.desc())
            .limit(limit)
        )
    )


def run_view(run: AutomationRun) -> dict[str, Any]:
    return {
        "trigger": run.trigger,
        "date": run.for_date.isoformat(),
        "sent": run.sent,
        "runs": run.runs,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "error": run.error,
    }


def _due_time(
    program: Program, name: str, conf: dict[str, Any], now: datetime
) -> datetime:
    zone = ZoneInfo(program.timezone)
    local = now.astimezone(zone)
    if name == "birthday" and local.hour < int(conf["hour"]):
        now = datetime.combine(local.date(), time(int(conf["hour"])), zone)
    return messaging.next_send_time(program, now)


def run_for_date(program: Program, name: str, day: date) -> dict[str, Any]:
    """Run for a given day (testing, catch-up): at the first moment that day when
    it may send (the birthday hour, after the quiet hours)."""
    row = automation(program, name)
    zone = ZoneInfo(program.timezone)
    hour = int(settings(row)["hour"]) if name == "birthday" else 0
    moment = messaging.next_send_time(program, datetime.combine(day, time(hour), zone))
    return run(program, name, moment, force=True)


# Scanned once per local day by the scheduled job (welcome runs every time).
DAILY = ("birthday", "win_back", "points_reminder", "membership_renewal")


def run_all(name: str, now: datetime) -> None:
    """The scheduled job: every program with `name` enabled, one transaction
    each. Daily automations skip a program whose last completed run was for
    its current local date. Programs are isolated: one that fails (a bad
    template saved before templates were checked, a database error) is rolled
    back, logged and recorded in its own run history, and the others still run."""
    program_ids = db.session.scalars(
        select(Automation.program_id)
        .where(Automation.name == name, Automation.enabled.is_(True))
        .order_by(Automation.program_id)
    ).all()
    db.session.commit()
    for program_id in program_ids:
        started = utcnow()
        try:
            _run_scheduled(program_id, name, now)
        except Exception as error:  # noqa: BLE001 - one program must not stop the rest
            db.session.rollback()
            log.exception("automation %s failed for program %s", name, program_id)
            # A domain error's code, else the type only: exception messages can
            # carry member data (SQL parameters).
            reason = (
                error.code if isinstance(error, DomainError) else type(error).__name__
            )
            _record_failure(program_id, name, now, started, reason)


def _run_scheduled(program_id: int, name: str, now: datetime) -> None:
    database.begin_write()  # SQLite: a writer from the start (see `run`)
    program = db.session.get(Program, program_id)
    assert program is not None
    today = now.astimezone(ZoneInfo(program.timezone)).date().isoformat()
    row = automation(program, name)
    if name in DAILY and (row.last_result or {}).get("date") == today:
        db.session.commit()
        return
    run(program, name, now, trigger="scheduler")
    db.session.commit()


def _record_failure(
    program_id: int, name: str, now: datetime, started: datetime, error: str
) -> None:
    """Note a failed scheduled run in the program's history (its own small
    transaction). `last_result` keeps no date, so the next tick tries again."""
    try:
        database.begin_write()
        program = db.session.get(Program, program_id)
        assert program is not None
        row = automation(program, name)
        day = now.astimezone(ZoneInfo(program.timezone)).date()
        row.last_result = {"error": error, "at": utcnow().isoformat()}
        record_run(row, "scheduler", day, 0, started, error=error)
        db.session.commit()
    except Exception:  # noqa: BLE001 - the database itself may be what failed
        db.session.rollback()
        log.exception(
            "could not record the failed %s run of program %s", name, program_id
        )


@scheduled("birthday")
def birthday_job(now: datetime) -> None:
    run_all("birthday", now)


# How far back the expiry job looks for ended offers: it catches up after a
# worker outage of up to this long, and reads only this window's messages.
EXPIRY_CATCH_UP = timedelta(days=7)


def expire_birthday_offers(program: Program, now: datetime) -> int:
    """Clear birthday offers whose `offer_days` have passed: the offer field goes
    back to its placeholder (no change message there, so the phone updates the
    pass silently; Google's sync of the offer does not notify either) and the
    passes are refreshed. An offer replaced by a later message is left alone.
    Only adds/flushes; the caller commits. Returns the members cleared."""
    conf = settings(automation(program, "birthday"))
    zone = ZoneInfo(program.timezone)
    today = now.astimezone(zone).date()
    # Sent on local day D, valid through D + offer_days: ended if sent before
    # the start of local day (today - offer_days).
    cutoff = datetime.combine(
        today - timedelta(days=int(conf["offer_days"])), time(0), zone
    ).astimezone(UTC)
    rows = db.session.execute(
        select(Member.id, MemberMessage.body)
        .join(Member, Member.id == MemberMessage.member_id)
        .where(
            MemberMessage.kind == "birthday",
            MemberMessage.created_at >= cutoff - EXPIRY_CATCH_UP,
            MemberMessage.created_at < cutoff,
            Member.program_id == program.id,
            Member.offer == MemberMessage.body,
        )
        .order_by(Member.id)
    ).all()
    cleared: list[int] = []
    for start in range(0, len(rows), BATCH):
        for member_id, body in rows[start : start + BATCH]:
            # Still that offer now (a message sent meanwhile wins). An UPDATE's
            # result is a CursorResult (Session.execute is typed Result).
            cleared_now = cast(
                CursorResult[Any],
                db.session.execute(
                    update(Member)
                    .where(Member.id == member_id, Member.offer == body)
                    .values(offer="")
                    .execution_options(synchronize_session="evaluate")
                ),
            ).rowcount
            if cleared_now:
                cleared.append(member_id)
    for start in range(0, len(cleared), BATCH):
        passes_ = db.session.scalars(
            select(Pass)
            .where(Pass.member_id.in_(cleared[start : start + BATCH]))
            .order_by(Pass.id)
        ).all()
        refresh_passes(list(passes_))
    return len(cleared)


@scheduled("birthday_offer_expiry")
def birthday_offer_expiry_job(now: datetime) -> None:
    """Every program's ended birthday offers, one transaction per program (the
    automation may be off by now: offers it gave still end)."""
    program_ids = db.session.scalars(
        select(Automation.program_id).where(Automation.name == "birthday")
    ).all()
    db.session.commit()
    for program_id in program_ids:
        try:
            database.begin_write()  # SQLite: a writer from the start (see `run`)
            program = db.session.get(Program, program_id)
            assert program is not None
            expire_birthday_offers(program, now)
            db.session.commit()
        except Exception:  # noqa: BLE001 - one program must not stop the rest
            db.session.rollback()
            log.exception("birthday offer expiry failed for program %s", program_id)


@scheduled("win_back")
def win_back_job(now: datetime) -> None:
    run_all("win_back", now)


@scheduled("welcome")
def welcome_job(now: datetime) -> None:
    run_all("welcome", now)


@scheduled("points_reminder")
def points_reminder_job(now: datetime) -> None:
    run_all("points_reminder", now)


@scheduled("membership_renewal")
def membership_renewal_job(now: datetime) -> None:
    run_all("membership_renewal", now)
