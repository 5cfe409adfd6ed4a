"""Sign-up: validate the public form, then issue a card (or return the existing one)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import passes
from app.extensions import db
from app.i18n import LANGUAGES
from app.ids import is_id
from app.models import Member, Pass, Program, Store
from app.models.base import utcnow
from app.services.ledger import post
from app.services.passes import refresh_pass


@dataclass
class SignupForm:
    """Cleaned sign-up data, or the fields that failed (field -> message key)."""

    name: str = ""
    phone: str = ""
    email: str | None = None
    birthday: date | None = None
    store: Store | None = None
    city: str | None = None
    language: str = "ru"
    errors: dict[str, str] = field(default_factory=dict)


def program_cities(program: Program) -> list[str]:
    return sorted({s.city for s in program.stores if s.active})


def validate_signup(program: Program, data: dict[str, str]) -> SignupForm:
    """Check every field and collect all problems at once (message keys for i18n)."""
    form = SignupForm()
    form.name = " ".join(data.get("name", "").split())
    if not form.name or len(form.name) > 120:
        form.errors["name"] = "error.name"

    try:
        number = phonenumbers.parse(data.get("phone", ""), "RU")
        if not phonenumbers.is_valid_number(number):
            raise phonenumbers.NumberParseException(0, "invalid")
        form.phone = phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.E164
        )
    except phonenumbers.NumberParseException:
        form.errors["phone"] = "error.phone"

    email = data.get("email", "").strip()
    if email:
        try:
            form.email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            form.errors["email"] = "error.email"

    birthday = data.get("birthday", "").strip()
    if birthday:
        try:
            form.birthday = date.fromisoformat(birthday)
            if not date(1900, 1, 1) <= form.birthday <= date.today():
                raise ValueError("out of range")
        except ValueError:
            form.errors["birthday"] = "error.birthday"

    store_id, city = data.get("store", "").strip(), data.get("city", "").strip()
    if store_id:
        # isascii: "²" passes isdigit() but not int().
        number = store_id.isascii() and store_id.isdigit() and is_id(int(store_id))
        store = db.session.get(Store, int(store_id)) if number else None
        if store is None or store.program_id != program.id or not store.active:
            form.errors["location"] = "error.location"
        else:
            form.store, form.city = store, store.city
    elif city in program_cities(program):
        form.city = city
    else:
        form.errors["location"] = "error.location"

    form.language = data.get("language", "")
    if form.language not in LANGUAGES:
        form.errors["language"] = "error.language"

    if data.get("consent") not in ("on", "yes", "true", "1"):
        form.errors["consent"] = "error.consent"
    return form


def find_member(program: Program, phone: str) -> Member | None:
    return db.session.scalar(
        select(Member).where(Member.program_id == program.id, Member.phone == phone)
    )


def _unused_card_number() -> str:
    while True:
        number = passes.new_card_number()
        if (
            db.session.scalar(select(Member.id).where(Member.card_number == number))
            is None
        ):
            return number


def sign_up(
    program: Program, form: SignupForm, consent_version: str
) -> tuple[Member, bool]:
    """Issue a card for a valid form; (member, created). Same phone -> same card."""
    assert not form.errors, "sign_up needs a valid form"
    existing = find_member(program, form.phone)
    if existing is not None:
        return existing, False
    now = utcnow()
    member = Member(
        program=program,
        card_number=_unused_card_number(),
        card_token=secrets.token_urlsafe(24),
        name=form.name,
        phone=form.phone,
        email=form.email,
        birthday=form.birthday,
        language=form.language,
        preferred_store=form.store,
        city=form.city,
        consent_version=consent_version,
        consent_at=now,
        points=0,
        tier=program.base_tier,
        offer="",
    )
    pass_ = Pass(
        program=program,
        member=member,
        serial_number=secrets.token_hex(10),
        authentication_token=secrets.token_urlsafe(24),
    )
    try:
        # A savepoint, so that losing the race below leaves the outer transaction
        # usable; objects added inside it are expunged when it rolls back.
        with db.session.begin_nested():
            db.session.add_all([member, pass_])
            db.session.flush()
    except IntegrityError:
        # Another request signed the same phone up a moment ago: return that card.
        existing = find_member(program, form.phone)
        if existing is None:
            raise
        return existing, False
    welcome = int(program.rule("welcome_bonus"))
    if welcome:
        # Keyed by member: the bonus can be credited once only.
        post(member, "bonus", welcome, idempotency_key=f"welcome:{member.id}")
    refresh_pass(pass_)
    return member, True
