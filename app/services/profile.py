"""The customer's own changes from the card page: name, e-mail, birthday (once:
it earns the birthday gift, so it cannot be moved later), home store, and
«Получать предложения» (marketing messages on or off). The pass follows (name
and nearby stores are on it).

The program's `profile_points` rule (0: off) grants points once for a complete
profile (`complete`: name, e-mail, birthday and home store all set): a ledger
"bonus" entry whose idempotency key (`profile:<member id>`) is unique in the
ledger, so a double or concurrent submit cannot grant it twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.ids import is_id
from app.models import LedgerEntry, Member, Store
from app.models.base import utcnow
from app.services import checks, ledger
from app.services.passes import pass_for_member, refresh_pass


@dataclass
class ProfileChange:
    """What the form asked for, checked; `errors` maps field -> message key."""

    name: str = ""
    email: str | None = None
    birthday: date | None = None
    store: Store | None = None
    marketing: bool = True
    errors: dict[str, str] = field(default_factory=dict)


def check(member: Member, data: dict[str, str]) -> ProfileChange:
    """Check every field at once (message keys of app.i18n.MESSAGES)."""
    change = ProfileChange()
    change.name = " ".join(data.get("name", "").split())
    if not change.name or len(change.name) > 120:
        change.errors["name"] = "error.name"
    email = data.get("email", "").strip()
    if email:
        try:
            change.email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            change.errors["email"] = "error.email"
    birthday = data.get("birthday", "").strip()
    if member.birthday is None and birthday:
        try:
            change.birthday = date.fromisoformat(birthday)
            if not date(1900, 1, 1) <= change.birthday <= date.today():
                raise ValueError("out of range")
        except ValueError:
            change.errors["birthday"] = "error.birthday"
    store_id = data.get("store", "").strip()
    if store_id:
        number = checks.form_int(store_id)
        store = db.session.get(Store, number) if is_id(number) else None
        if store is None or store.program_id != member.program_id or not store.active:
            change.errors["store"] = "error.location"
        else:
            change.store = store
    change.marketing = data.get("marketing") in ("on", "yes", "true", "1")
    return change


def apply(member: Member, change: ProfileChange) -> None:
    """Save a checked change; the pass is refreshed when what it shows moved.
    Caller commits."""
    member.name = change.name
    member.email = change.email
    if member.birthday is None and change.birthday is not None:
        member.birthday = change.birthday
    if change.store is not None:
        member.preferred_store_id = change.store.id
        member.city = change.store.city
    if not change.marketing and member.marketing_off_at is None:
        member.marketing_off_at = utcnow()
    elif change.marketing:
        member.marketing_off_at = None
    db.session.flush()
    grant_profile_points(member)
    pass_ = pass_for_member(member)
    if pass_ is not None:
        refresh_pass(pass_)


def complete(member: Member) -> bool:
    """A complete profile: name, e-mail, birthday and home store all set."""
    return bool(
        member.name
        and member.email
        and member.birthday is not None
        and member.preferred_store_id is not None
    )


def profile_key(member: Member) -> str:
    return f"profile:{member.id}"


def points_on_offer(member: Member) -> int:
    """What completing the profile would still earn: the rule's points unless
    they were granted (0: the rule is off)."""
    points = int(member.program.rule("profile_points") or 0)
    if points <= 0:
        return 0
    granted = db.session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.idempotency_key == profile_key(member))
    )
    return 0 if granted is not None else points


def grant_profile_points(member: Member) -> int:
    """The program's `profile_points` for a complete profile, once per member
    ever: 0 when the rule is off, the profile incomplete, or granted already
    (the ledger's unique idempotency key refuses a second entry, also from a
    concurrent submit, which waits for the first to commit). Caller commits."""
    points = int(member.program.rule("profile_points") or 0)
    if points <= 0 or not complete(member):
        return 0
    try:
        with db.session.begin_nested():
            ledger.post(
                member,
                "bonus",
                points,
                idempotency_key=profile_key(member),
                note="profile",
            )
    except IntegrityError:
        return 0  # granted before
    return points
