"""Sign-up at the till (`POST /api/v1/pos/members`): the cashier types the
customer's phone and name and confirms their consent; the card is issued and
its link goes to the phone by SMS (and e-mail when given). A phone that already
has a card gets its link too, and the answer is the same either way: the till
learns nothing about an existing card (the /join rule)."""

from __future__ import annotations

from typing import Any

from app.extensions import db
from app.i18n import LANGUAGES
from app.models import ApiKey, Program, Store
from app.services import audit, outbound
from app.services.errors import Invalid
from app.services.masking import mask_phone
from app.services.signup import find_member, sign_up, validate_signup

FIELDS = {"phone", "name", "email", "birthday", "language", "consent"}


def sign_up_at_till(key: ApiKey, body: object) -> dict[str, Any]:
    """Issue or find the card and queue its link; the answer (no card data).
    Invalid with `fields` (field -> message key) on a bad body. Caller commits."""
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "The body must be a JSON object.")
    unknown = set(body) - FIELDS
    if unknown:
        raise Invalid("invalid_body", f"Unknown fields: {', '.join(sorted(unknown))}.")
    if body.get("consent") is not True:
        raise Invalid(
            "consent_required",
            "consent: the customer's consent, confirmed by the cashier (true).",
        )
    values = {name: body.get(name) for name in ("phone", "name", "email", "birthday")}
    if not all(isinstance(v, str) or v is None for v in values.values()):
        raise Invalid("invalid_body", "phone, name, email, birthday: strings.")
    language = body.get("language", "ru")
    if language not in LANGUAGES:
        raise Invalid("invalid_language", f"language: one of {', '.join(LANGUAGES)}.")
    program = db.session.get(Program, key.program_id)
    assert program is not None
    store = db.session.get(Store, key.store_id) if key.store_id is not None else None
    data = {name: (value or "") for name, value in values.items()}
    data |= {"language": str(language), "consent": "yes"}
    if store is not None:
        data["store"] = str(store.id)
    form = validate_signup(program, data)
    if store is None:
        form.errors.pop("location", None)  # a web shop key has no store
    if form.errors:
        raise Invalid(
            "invalid_member",
            "Some fields are not valid: " + ", ".join(sorted(form.errors)) + ".",
            fields=form.errors,
        )
    consent = f"pos:{store.code}"[:20] if store is not None else "shop"
    existing = find_member(program, form.phone)
    member, created = (existing, False) if existing else sign_up(program, form, consent)
    queued = outbound.send_card_link(member)
    audit.record(
        "pos.member_signup",
        target=f"store:{key.store_id}" if key.store_id else f"api_key:{key.prefix}",
        key=key,
        # Internal record only: the till's answer does not say which it was.
        details={"member_id": member.id, "created": created, "queued": queued},
    )
    return {"sent": True, "phone": mask_phone(form.phone)}
