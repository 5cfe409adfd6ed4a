"""The customer's own changes from the card page: name, e-mail, birthday (once:
it earns the birthday gift, so it cannot be moved later), home store, and
«Получать предложения» (marketing messages on or off). The pass follows (name
and nearby stores are on it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from email_validator import EmailNotValidError, validate_email

from app.extensions import db
from app.ids import is_id
from app.models import Member, Store
from app.models.base import utcnow
from app.services import checks
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
    pass_ = pass_for_member(member)
    if pass_ is not None:
        refresh_pass(pass_)
