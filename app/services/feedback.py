"""Feedback and service recovery: after a sampled POS purchase the member is
asked to rate the visit (0-10 and a comment) on a one-page form that the back of
the pass (and a Google link and message) points to; low scores (0-6) queue up
in /admin for an apology (points or an offer) and a personal message.

- Settings live in `program.rules["feedback"]`: enabled, sample_percent (share
  of purchases asked), every_days (at most one request per member per this
  many days), answer_days (how long the link works).
- Sampling is a hash of the purchase (store and Idempotency-Key): the same
  purchase is always in or out, with no read. Only a sampled purchase reads the
  member's latest request (one indexed lookup, under the purchase's row lock).
- The open request's token sits on `member.feedback_token`, so building a pass
  reads nothing more; answering clears it and refreshes the pass.
- Win-back messages may carry a request too (kind "winback", no purchase).
- Stats (`stats`) are the one definition /admin and the API show.
"""

from __future__ import annotations

import hashlib
import secrets
import statistics
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, select, update

from app import database
from app.extensions import db
from app.models import Member, PosTransaction, Program, Store
from app.models.base import utcnow
from app.models.feedback import PURCHASE, WINBACK, Feedback
from app.services import audit, checks, ledger, messaging
from app.services.audit import Actor
from app.services.errors import Conflict, Gone, NotFound
from app.services.idlist import in_ids
from app.services.scheduler import scheduled

FIELDS = ("enabled", "sample_percent", "every_days", "answer_days")
DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "sample_percent": 10,
    "every_days": 30,
    "answer_days": 14,
}
# An answer may be changed this long after it was first given (a slip of the
# finger), not later: one answer per request.
EDIT_WINDOW = timedelta(minutes=30)
LOW_SCORE = 6  # 0-6: detractors, the recovery queue
PROMOTER = 9  # 9-10
REPURCHASE_DAYS = 60
MAX_POINTS = 100_000
MAX_COMMENT = 1000
STATUSES = ("open", "answered", "low", "unresolved", "resolved")
WEEKS = 12
LIST_LIMIT = 100


# -- settings ------------------------------------------------------------------


def view(program: Program) -> dict[str, Any]:
    value = (program.rules or {}).get("feedback") or {}
    return {key: value.get(key, default) for key, default in DEFAULTS.items()}


def settings(program: Program) -> dict[str, Any] | None:
    """The program's feedback settings when it asks for feedback, else None."""
    value = (program.rules or {}).get("feedback")
    if not isinstance(value, dict) or not value.get("enabled"):
        return None
    return value


def update_settings(
    program: Program, body: dict[str, Any], key: Actor | None
) -> dict[str, Any]:
    """Change the feedback settings (a partial body). The caller commits."""
    checks.known_keys(body, FIELDS, code="invalid_feedback")
    current = view(program)
    if "enabled" in body:
        current["enabled"] = checks.flag(body["enabled"], "enabled", "invalid_feedback")
    ranges = {"sample_percent": (0, 100), "every_days": (1, 365)}
    ranges["answer_days"] = (1, 90)
    for name, (low, high) in ranges.items():
        if name in body:
            current[name] = checks.whole(
                body[name], name, low, high, "invalid_feedback"
            )
    program.rules = {**(program.rules or {}), "feedback": current}
    audit.record(
        "program.feedback",
        target=f"program:{program.id}",
        program_id=program.id,
        key=key,
        details=current,
    )
    return view(program)


# -- asking after a purchase -------------------------------------------------------


def sampled(percent: int, store_id: int, idempotency_key: str) -> bool:
    """Whether this purchase is in the sample: a hash of the purchase, so a
    retry or a test always gets the same answer."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    digest = hashlib.sha256(f"{store_id}:{idempotency_key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < percent * 100


def wants(program: Program, store_id: int, idempotency_key: str) -> bool:
    """Whether to ask about this purchase (no read: settings and a hash)."""
    current = settings(program)
    if current is None:
        return False
    percent = int(current.get("sample_percent", DEFAULTS["sample_percent"]))
    return sampled(percent, store_id, idempotency_key)


def _asked_lately(program: Program, member_id: int, now: datetime) -> bool:
    days = int(view(program)["every_days"])
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    Feedback.member_id == member_id,
                    Feedback.created_at > now - timedelta(days=days),
                )
            )
        )
    )


def _new(
    program: Program,
    member_id: int,
    now: datetime,
    *,
    kind: str,
    source: str,
    store_id: int | None = None,
    transaction_id: int | None = None,
    token: str | None = None,
) -> Feedback:
    row = Feedback(
        program_id=program.id,
        member_id=member_id,
        store_id=store_id,
        transaction_id=transaction_id,
        kind=kind,
        source=source,
        token=token or new_token(),
        created_at=now,
        expires_at=now + timedelta(days=int(view(program)["answer_days"])),
        comment="",
    )
    db.session.add(row)
    return row


def new_token() -> str:
    """A request's random, unguessable token (its page's address)."""
    return secrets.token_urlsafe(24)


def ask_about_purchase(
    program: Program, member_id: int, store_id: int, idempotency_key: str, now: datetime
) -> str | None:
    """The token of the request a purchase will make, or None: not sampled (no
    read), or the member was asked within every_days (one indexed read; the
    purchase holds the member's row lock). Decided before the purchase's writes,
    so the pass digest the till computes already shows the link: no second
    refresh."""
    if not wants(program, store_id, idempotency_key):
        return None
    if _asked_lately(program, member_id, now):
        return None
    return new_token()


def record_purchase_request(
    program: Program,
    member_id: int,
    store_id: int,
    transaction_id: int,
    token: str,
    now: datetime,
) -> None:
    """Store the request `ask_about_purchase` decided on (after the purchase's
    writes: it names the transaction) and point the pass at it."""
    _new(
        program,
        member_id,
        now,
        kind=PURCHASE,
        source=f"purchase:{transaction_id}",
        store_id=store_id,
        transaction_id=transaction_id,
        token=token,
    )
    db.session.flush()
    db.session.execute(
        update(Member).where(Member.id == member_id).values(feedback_token=token)
    )


def ask_winback(
    program: Program, sources: dict[int, str], now: datetime
) -> dict[int, str]:
    """Win-back requests for members about to get a win-back message ({member id:
    the message's source key}): {member id: token}. One per lapse; members
    asked within every_days are left out. The message's pass refresh shows it."""
    if not sources:
        return {}
    days = int(view(program)["every_days"])
    recent = set(
        db.session.scalars(
            select(Feedback.member_id).where(
                in_ids(Feedback.member_id, sources),
                Feedback.created_at > now - timedelta(days=days),
            )
        )
    )
    tokens: dict[int, str] = {}
    for member_id, source in sorted(sources.items()):
        if member_id in recent:
            continue
        row = _new(program, member_id, now, kind=WINBACK, source=source[:60])
        tokens[member_id] = row.token
    db.session.flush()
    for member_id, token in tokens.items():
        db.session.execute(
            update(Member).where(Member.id == member_id).values(feedback_token=token)
        )
    return tokens


def withdraw(program: Program, tokens: dict[int, str]) -> None:
    """Take back requests whose message did not go out (cap, sent before)."""
    if not tokens:
        return
    values = list(tokens.values())
    db.session.execute(
        update(Member)
        .where(Member.feedback_token.in_(values))
        .values(feedback_token=None)
    )
    for row in db.session.scalars(select(Feedback).where(Feedback.token.in_(values))):
        db.session.delete(row)
    db.session.flush()


# -- expiry ----------------------------------------------------------------------

EXPIRY_BATCH = 500


@scheduled("feedback_expiry")
def feedback_expiry_job(now: datetime) -> None:
    """Passes stop linking to requests that expired unanswered (a batch per
    transaction; reads only members with an open link, by a partial index)."""
    while True:
        database.begin_write()  # SQLite: a writer from the start
        member_ids = list(
            db.session.scalars(
                select(Member.id)
                .join(Feedback, Feedback.token == Member.feedback_token)
                .where(
                    Member.feedback_token.is_not(None),
                    Feedback.expires_at <= now,
                    Feedback.answered_at.is_(None),
                )
                .order_by(Member.id)
                .limit(EXPIRY_BATCH)
            )
        )
        for member_id in member_ids:
            member = ledger.lock_member(member_id)
            member.feedback_token = None
            db.session.flush()
            ledger.refresh_member_pass(member)
        db.session.commit()
        if len(member_ids) < EXPIRY_BATCH:
            return


# -- the rating page -------------------------------------------------------------


class Page(NamedTuple):
    """What the rating page shows: no personal data beyond the store and the
    purchase's date and amount."""

    feedback: Feedback
    program: Program
    language: str
    store: str
    purchased_at: datetime | None
    amount_kopecks: int | None
    editable: bool


def page(token: str, now: datetime | None = None) -> Page:
    """The request behind a token: NotFound for an unknown one, Gone when
    expired (unanswered) or the card was closed."""
    now = now or utcnow()
    if not isinstance(token, str) or not 20 <= len(token) <= 43:
        raise NotFound("unknown_feedback", "No such rating link.")
    row = db.session.scalar(select(Feedback).where(Feedback.token == token))
    if row is None:
        raise NotFound("unknown_feedback", "No such rating link.")
    member = db.session.get(Member, row.member_id)
    program = db.session.get(Program, row.program_id)
    assert member is not None
    assert program is not None
    if member.erased_at is not None:
        raise Gone("feedback_expired", "This rating link has expired.")
    if row.score is None and row.expires_at <= now:
        raise Gone("feedback_expired", "This rating link has expired.")
    store = db.session.get(Store, row.store_id) if row.store_id else None
    purchase = (
        db.session.get(PosTransaction, row.transaction_id)
        if row.transaction_id
        else None
    )
    return Page(
        feedback=row,
        program=program,
        language=member.language,
        store=store.name if store is not None else "",
        purchased_at=purchase.created_at if purchase is not None else None,
        amount_kopecks=purchase.amount_kopecks if purchase is not None else None,
        editable=_editable(row, now),
    )


def _editable(row: Feedback, now: datetime) -> bool:
    if row.resolved_at is not None:
        return False
    return row.answered_at is None or now - row.answered_at <= EDIT_WINDOW


def answer(
    token: str, score: object, comment: object, now: datetime | None = None
) -> Feedback:
    """Record the member's answer (a retry or a change within EDIT_WINDOW updates
    the same answer; later: Conflict). The pass stops linking to the form."""
    now = now or utcnow()
    current = page(token, now)
    row = current.feedback
    value = checks.whole(score, "score", 0, 10, "invalid_score")
    if comment is None:
        comment = ""
    text = checks.text(
        comment,
        "comment",
        "invalid_comment",
        longest=MAX_COMMENT,
        shortest=0,
        multiline=True,
    )
    locked = ledger.lock_member(row.member_id)
    # Re-read under the member's lock: two submits at once answer once.
    db.session.refresh(row)
    if not _editable(row, now):
        raise Conflict("already_answered", "This visit has been rated already.")
    first = row.answered_at is None
    row.score, row.comment = value, text
    if first:
        row.answered_at = now
    if locked.feedback_token == row.token:
        locked.feedback_token = None
        db.session.flush()
        ledger.refresh_member_pass(locked)
    if first:
        # Imported here: importing webhooks with automations (which imports this
        # module) would register its scheduled job first and change the jobs'
        # order (tests/app/test_automations.py relies on it).
        from app.services import webhooks

        webhooks.emit(
            row.program_id,
            "feedback.received",
            _event(row),
            member_id=row.member_id,
        )
    return row


def _event(row: Feedback) -> dict[str, Any]:
    return {
        "feedback_id": row.id,
        "kind": row.kind,
        "member_id": row.member_id,
        "store_id": row.store_id,
        "transaction_id": row.transaction_id,
        "score": row.score,
        "comment": row.comment,
        "answered_at": row.answered_at.isoformat() if row.answered_at else None,
    }


# -- the recovery queue --------------------------------------------------------------


def get(program_id: int, feedback_id: object) -> Feedback:
    if not checks.is_whole(feedback_id, 1, 2**31 - 1):
        raise NotFound("unknown_feedback", "No such feedback.")
    row = db.session.get(Feedback, feedback_id)
    if row is None or row.program_id != program_id:
        raise NotFound("unknown_feedback", "No such feedback.")
    return row


def resolve(
    program: Program, feedback_id: object, body: object, key: Actor | None
) -> Feedback:
    """Service recovery for a low score: apology points (a ledger bonus entry)
    or an offer instance, and a personal message; the resolution time is
    recorded and the answer leaves the queue. Caller commits."""
    row = get(program.id, feedback_id)
    if not isinstance(body, dict):
        checks.fail("invalid_body", "The body must be a JSON object.")
    checks.known_keys(body, ("points", "offer_id", "message"), code="invalid_resolve")
    if ("points" in body) == ("offer_id" in body):
        checks.fail("invalid_resolve", "Give either points or offer_id.")
    message = checks.text(
        body.get("message"), "message", "invalid_message", longest=messaging.MAX_TEXT
    )
    points = None
    if "points" in body:
        points = checks.whole(body["points"], "points", 1, MAX_POINTS, "invalid_points")
    if row.score is None or row.score > LOW_SCORE:
        raise Conflict("not_low_score", "Only a low score (0-6) is resolved.")
    if row.resolved_at is not None:
        raise Conflict("already_resolved", "This feedback was resolved already.")
    member = ledger.lock_member(row.member_id)
    if member.erased_at is not None:
        raise Gone("card_closed", "This member left the program.")
    now = utcnow()
    resolution: dict[str, Any] = {"message": message}
    if points is not None:
        ledger.post(
            member,
            "bonus",
            points,
            idempotency_key=f"feedback:{row.id}",
            note="feedback",
            created_at=now,
        )
        resolution["points"] = points
    else:
        from app.services import offers

        instance = offers.issue_manual(
            member,
            {"offer_id": body["offer_id"], "source": f"feedback:{row.id}"},
            key,
        )
        resolution.update(offer_id=instance.offer_id, member_offer_id=instance.id)
    row.resolved_at = now
    row.resolution = resolution
    db.session.flush()
    # The message refreshes the pass (its offer field); the points or offer
    # are on the pass by then.
    sent = messaging.deliver(
        member,
        kind="feedback",
        source_key=f"feedback:{row.id}",
        texts={member.language: message},
    )
    if sent is None:
        ledger.refresh_member_pass(member)
    audit.record(
        "feedback.resolve",
        target=f"feedback:{row.id}",
        program_id=program.id,
        key=key,
        details={k: v for k, v in resolution.items() if k != "message"},
    )
    return row


def view_of(row: Feedback, store_names: dict[int, str]) -> dict[str, Any]:
    """The API's and the page's view of one request (no name or phone)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "member_id": row.member_id,
        "store_id": row.store_id,
        "store": store_names.get(row.store_id or 0, ""),
        "transaction_id": row.transaction_id,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat(),
        "score": row.score,
        "comment": row.comment,
        "answered_at": row.answered_at.isoformat() if row.answered_at else None,
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "resolution": row.resolution,
    }


def store_names(program_id: int) -> dict[int, str]:
    return dict(
        db.session.execute(
            select(Store.id, Store.name).where(Store.program_id == program_id)
        )
        .tuples()
        .all()
    )


def listing(
    program_id: int,
    *,
    status: str | None = None,
    store_id: int | None = None,
    kind: str | None = None,
    limit: int = LIST_LIMIT,
    before: int | None = None,
) -> list[Feedback]:
    """Requests, newest first; `status`: open (not answered), answered, low
    (0-6), unresolved (low, not resolved: the queue), resolved."""
    query = select(Feedback).where(Feedback.program_id == program_id)
    answered = Feedback.answered_at.is_not(None)
    low = and_(answered, Feedback.score <= LOW_SCORE)
    where = {
        "open": Feedback.answered_at.is_(None),
        "answered": answered,
        "low": low,
        "unresolved": and_(low, Feedback.resolved_at.is_(None)),
        "resolved": Feedback.resolved_at.is_not(None),
    }
    if status is not None:
        query = query.where(where[status])
    if store_id is not None:
        query = query.where(Feedback.store_id == store_id)
    if kind is not None:
        query = query.where(Feedback.kind == kind)
    if before is not None:
        query = query.where(Feedback.id < before)
    return list(db.session.scalars(query.order_by(Feedback.id.desc()).limit(limit)))


def queue(program_id: int, limit: int = LIST_LIMIT) -> list[Feedback]:
    """Low scores not yet resolved, oldest first (the longest waiting lead)."""
    return list(
        db.session.scalars(
            select(Feedback)
            .where(
                Feedback.program_id == program_id,
                Feedback.answered_at.is_not(None),
                Feedback.score <= LOW_SCORE,
                Feedback.resolved_at.is_(None),
            )
            .order_by(Feedback.answered_at, Feedback.id)
            .limit(limit)
        )
    )


# -- stats (one definition: /admin/feedback and GET /api/v1/feedback/stats) ---------


def _nps_of(counts: dict[int, int]) -> float | None:
    """% promoters (9-10) − % detractors (0-6), one decimal, over a histogram
    {score: how many}; None without scores."""
    total = sum(counts.values())
    if not total:
        return None
    promoters = sum(n for s, n in counts.items() if s >= PROMOTER)
    detractors = sum(n for s, n in counts.items() if s <= LOW_SCORE)
    return round((promoters - detractors) * 100 / total, 1)


def _rate(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 1) if whole else None


def _week(moment: datetime, zone: ZoneInfo) -> str:
    """The Monday (local date) of the week `moment` falls in."""
    local = moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date()
    return (local - timedelta(days=local.weekday())).isoformat()


def stats(program: Program, now: datetime | None = None) -> dict[str, Any]:
    """- response_rate: answered / asked (%), purchase requests;
    - nps and nps_by_store: purchase answers; nps_by_week: the last WEEKS weeks
      (program time zone, weeks start on Monday);
    - low_scores, resolved, unresolved; median_resolve_hours: answer to
      resolution, over resolved ones;
    - repurchase: low scorers (both kinds) whose REPURCHASE_DAYS since the
      answer have passed, resolved and unresolved: how many bought again within
      them (a POS or online purchase), and the rate (%);
    - winback: asked and answered.

    Counted in SQL (one GROUP BY of a few dozen rows, whatever the program's
    size); only the last weeks' answers and the resolved low scores come back
    as rows (the local week and the median are worked out here)."""
    now = now or utcnow()
    answered = Feedback.answered_at.is_not(None)
    resolved_ = Feedback.resolved_at.is_not(None)
    groups = db.session.execute(
        select(
            Feedback.kind,
            Feedback.store_id,
            answered.label("answered"),
            Feedback.score,
            resolved_.label("resolved"),
            func.count().label("n"),
        )
        .where(Feedback.program_id == program.id)
        .group_by(Feedback.kind, Feedback.store_id, answered, Feedback.score, resolved_)
    ).all()
    asked = answers = low = resolved = winback_asked = winback_answered = 0
    overall: dict[int, int] = {}
    by_store: dict[int, dict[int, int]] = {}
    for g in groups:
        is_answered = bool(g.answered)
        if g.kind == WINBACK:
            winback_asked += g.n
            winback_answered += g.n if is_answered else 0
        if is_answered and g.score is not None and g.score <= LOW_SCORE:
            low += g.n
            resolved += g.n if g.resolved else 0
        if g.kind != PURCHASE:
            continue
        asked += g.n
        if is_answered:
            answers += g.n
            overall[g.score] = overall.get(g.score, 0) + g.n
            store = by_store.setdefault(g.store_id or 0, {})
            store[g.score] = store.get(g.score, 0) + g.n
    names = store_names(program.id)
    zone = ZoneInfo(program.timezone)
    first_week = _week(now - timedelta(weeks=WEEKS - 1), zone)
    by_week: dict[str, dict[int, int]] = {}
    # A day's margin on each side of the local week's start.
    for at, score in db.session.execute(
        select(Feedback.answered_at, Feedback.score).where(
            Feedback.program_id == program.id,
            Feedback.kind == PURCHASE,
            Feedback.answered_at >= now - timedelta(weeks=WEEKS, days=1),
        )
    ):
        week = _week(at, zone)
        if week >= first_week:
            histogram = by_week.setdefault(week, {})
            histogram[score] = histogram.get(score, 0) + 1
    hours = [
        (done - at).total_seconds() / 3600
        for at, done in db.session.execute(
            select(Feedback.answered_at, Feedback.resolved_at).where(
                Feedback.program_id == program.id,
                answered,
                resolved_,
                Feedback.score <= LOW_SCORE,
            )
        )
    ]
    return {
        "asked": asked,
        "answered": answers,
        "response_rate": _rate(answers, asked),
        "nps": _nps_of(overall),
        "nps_by_store": [
            {
                "store_id": store_id or None,
                "store": names.get(store_id, ""),
                "answers": sum(scores.values()),
                "nps": _nps_of(scores),
            }
            for store_id, scores in sorted(by_store.items())
        ],
        "nps_by_week": [
            {"week": week, "answers": sum(scores.values()), "nps": _nps_of(scores)}
            for week, scores in sorted(by_week.items())
        ],
        "low_scores": low,
        "resolved": resolved,
        "unresolved": low - resolved,
        "median_resolve_hours": round(statistics.median(hours), 1) if hours else None,
        "repurchase": _repurchase(program.id, now),
        "winback": {"asked": winback_asked, "answered": winback_answered},
    }


def _repurchase(program_id: int, now: datetime) -> dict[str, Any]:
    window = timedelta(days=REPURCHASE_DAYS)
    low = db.session.execute(
        select(Feedback.member_id, Feedback.answered_at, Feedback.resolved_at).where(
            Feedback.program_id == program_id,
            Feedback.answered_at.is_not(None),
            Feedback.answered_at <= now - window,
            Feedback.score <= LOW_SCORE,
        )
    ).all()
    bought: dict[int, list[datetime]] = {}
    if low:
        # Purchases after the earliest answer, of these members only.
        since = min(r.answered_at for r in low)
        for member_id, at in db.session.execute(
            select(PosTransaction.member_id, PosTransaction.created_at).where(
                in_ids(PosTransaction.member_id, {r.member_id for r in low}),
                PosTransaction.created_at > since,
            )
        ):
            bought.setdefault(member_id, []).append(at)
    out = {}
    for name, wanted in (("resolved", True), ("unresolved", False)):
        group = [r for r in low if (r.resolved_at is not None) == wanted]
        again = sum(
            1
            for r in group
            if any(
                r.answered_at < at <= r.answered_at + window
                for at in bought.get(r.member_id, ())
            )
        )
        out[name] = {
            "low_scorers": len(group),
            "repurchased": again,
            "rate": _rate(again, len(group)),
        }
    return out
