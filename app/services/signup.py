"""Sign-up: validate the public form, then issue a card.

A phone that already has a card never opens it: the view sends that card's link
to the phone (and e-mail) instead (`app.services.outbound`). A program with the
`signup_otp` rule first checks a one-time code sent by SMS (`issue_code`,
`check_code`)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import passes
from app.extensions import db
from app.i18n import LANGUAGES
from app.ids import is_id
from app.models import Member, Pass, Program, SignupCode, Store
from app.models.base import utcnow
from app.services import outbound, webhooks
from app.services.ledger import post
from app.services.passes import pass_for_member, refresh_pass


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


def parse_phone(text: str) -> str | None:
    """A phone number as typed (Russian by default) in E.164, or None."""
    try:
        number = phonenumbers.parse(text, "RU")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_signup(program: Program, data: dict[str, str]) -> SignupForm:
    """Check every field and collect all problems at once (message keys for i18n)."""
    form = SignupForm()
    form.name = " ".join(data.get("name", "").split())
    if not form.name or len(form.name) > 120:
        form.errors["name"] = "error.name"

    phone = parse_phone(data.get("phone", ""))
    if phone is None:
        form.errors["phone"] = "error.phone"
    else:
        form.phone = phone

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
    """Issue a card for a valid form; (member, created). A phone that has a card
    gets (that member, False): the caller must not show it (send its link)."""
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
    webhooks.emit(
        program.id, "member.created", webhooks.member_data(member), member_id=member.id
    )
    return member, True


def new_card_link(member: Member) -> None:
    """Retire the card page link and move the pass to the new one: the pass's back
    fields carry the link, so its devices get the update. The caller commits."""
    member.card_token = secrets.token_urlsafe(24)
    pass_ = pass_for_member(member)
    if pass_ is not None:
        refresh_pass(pass_)


# -- One-time sign-up codes (program rule `signup_otp`) ---------------------------
CODE_LIFETIME = timedelta(minutes=10)
CODE_ATTEMPTS = 5
CODE_OK, CODE_WRONG, CODE_EXPIRED = "ok", "wrong", "expired"


def otp_required(program: Program) -> bool:
    return bool(program.rule("signup_otp"))


def _code_hash(code_id: int, code: str) -> str:
    # Keyed, so that a copy of the table does not give the codes away (a six-digit
    # code falls to a plain hash at once).
    secret = str(current_app.config["SECRET_KEY"]).encode()
    key = hmac.new(secret, b"signup-code-v1", hashlib.sha256).digest()
    return hmac.new(key, f"{code_id}:{code}".encode(), hashlib.sha256).hexdigest()


def issue_code(program: Program, phone: str, language: str) -> bool:
    """Send a new six-digit code to the phone (older ones stop working); False if
    the phone had its codes this hour (nothing sent). The caller commits."""
    code = f"{secrets.randbelow(10**6):06d}"
    if not outbound.send_signup_code(program.id, program.name, phone, code, language):
        return False
    key = outbound.recipient_key(phone)
    now = utcnow()
    for old in db.session.scalars(
        select(SignupCode).where(
            SignupCode.program_id == program.id,
            SignupCode.phone_key == key,
            SignupCode.used_at.is_(None),
        )
    ):
        old.used_at = now
    row = SignupCode(
        program_id=program.id,
        phone_key=key,
        code_hash="",
        expires_at=now + CODE_LIFETIME,
    )
    db.session.add(row)
    db.session.flush()
    row.code_hash = _code_hash(row.id, code)
    return True


def check_code(program: Program, phone: str, code: str) -> str:
    """CODE_OK (the code is used up), CODE_WRONG (one attempt spent) or
    CODE_EXPIRED (no live code: expired, used, or out of attempts). The caller
    commits either way, so that wrong attempts count."""
    row = db.session.scalar(
        select(SignupCode)
        .where(
            SignupCode.program_id == program.id,
            SignupCode.phone_key == outbound.recipient_key(phone),
            SignupCode.used_at.is_(None),
        )
        .order_by(SignupCode.id.desc())
        .limit(1)
        .with_for_update()
    )
    now = utcnow()
    if row is None or row.expires_at <= now or row.attempts >= CODE_ATTEMPTS:
        return CODE_EXPIRED
    given = "".join(code.split())
    if given.isascii() and hmac.compare_digest(
        _code_hash(row.id, given), row.code_hash
    ):
        row.used_at = now
        return CODE_OK
    row.attempts += 1
    return CODE_WRONG
