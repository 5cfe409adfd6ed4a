"""Program settings for marketers: brand texts, colours, images, earn rules, tiers,
time zone and quiet hours.

`apply` checks a whole change before touching anything (422, nothing changed),
then sets the program's columns. If the change alters what passes show (texts,
colours, images, tier names), it queues a refresh of every pass of the program:
the same `PassRefresh` rows and `store_refresh` worker job as a store change,
with no "before" list, so each pass is re-hashed in batches outside the
request and only those whose content changed get a new tag and pushes. A
change of the tier thresholds marks that refresh `retier`: each batch first
sets its members' tiers from their rolling 12-month spend (loyalty.retier, the
purchase's rule), so members move up or down at once, not at their next
purchase.
"""

from __future__ import annotations

import base64
import hashlib
import re
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import delete, func, select

import passes
from app.extensions import db
from app.models import ApiKey, Member, PassRefresh, Program, ProgramImage
from app.services import audit, checks, fallback, loyalty, stores
from app.services import passes as pass_service
from app.services.errors import Invalid, NotFound

FIELDS = (
    "name",
    "organization_name",
    "description",
    "logo_text",
    "brand_name",
    "texts",
    "colors",
    "rules",
    "quiet_hours",
    "timezone",
    "tiers",
    "country",
)
# One-line texts: (longest, may be empty).
_LINES = {
    "name": (120, False),
    "organization_name": (120, False),
    "description": (200, False),
    "logo_text": (60, True),
    "brand_name": (120, False),
}
# Texts by language: their longest value.
_TEXTS = {"name": 120, "terms": 2000, "contacts": 1000, "privacy": 8000}
COLORS = ("foreground", "background", "label", "accent")
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_TIER_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,29}$")
MAX_TIERS = 10
MAX_SPEND = 10**9  # roubles
MAX_WELCOME_BONUS = 100_000
# How earned points may be rounded: the POS's rounding rules.
ROUNDING = tuple(loyalty.ROUNDING)
# Below this contrast (WCAG ratio) card text is hard to read: warned, not refused.
MIN_CONTRAST = 3.0


def _fail(code: str, message: str) -> Invalid:
    return Invalid(code, message)


# -- reading -------------------------------------------------------------------


def _decimal_text(value: Decimal) -> str:
    """'0.30' -> '0.3', '1.00' -> '1' (as the rules are stored)."""
    return format(value.normalize(), "f")


_places = checks.places


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def image_view(program: Program) -> dict[str, Any]:
    stored = program.design.get("images") or {}
    return {
        kind: (
            {key: stored[kind][key] for key in ("sha256", "width", "height")}
            if stored.get(kind)
            else None
        )
        for kind in passes.images.KINDS
    }


def view(program: Program) -> dict[str, Any]:
    """The settings as the API shows them."""
    design = program.design
    quiet_from, quiet_until = program.rule("quiet_hours")
    texts = program.texts or {}
    return {
        "id": program.id,
        "slug": program.slug,
        "name": program.name,
        "organization_name": program.organization_name,
        "description": program.description,
        "logo_text": program.logo_text,
        "brand_name": design.get("brand_name", program.name),
        "texts": {key: dict(texts.get(key) or {}) for key in _TEXTS},
        "colors": {key: design[key] for key in COLORS},
        "images": image_view(program),
        "rules": {
            "max_redeem_share": str(program.rule("max_redeem_share")),
            "point_value": str(program.rule("point_value")),
            "welcome_bonus": int(program.rule("welcome_bonus")),
            "points_rounding": program.rule("points_rounding"),
            "signup_otp": bool(program.rule("signup_otp")),
            "gross_margin_percent": int(program.rule("gross_margin_percent")),
            "message_cap": program.rule("message_cap"),
            "profile_points": int(program.rule("profile_points")),
            "fallback_channels": fallback.mode(program),
        },
        "quiet_hours": {"from": quiet_from, "until": quiet_until},
        "timezone": program.timezone,
        "country": program.country,
        "tiers": [
            {
                "code": tier["code"],
                "name": dict(tier["name"]),
                "min_spend": tier.get("min_spend", 0),
                "earn_percent": tier.get("earn_percent", 0),
            }
            for tier in program.tiers
        ],
        "warnings": warnings(design),
        "refresh": latest_refresh(program),
    }


def latest_refresh(program: Program) -> dict[str, Any] | None:
    refresh = db.session.scalar(
        select(PassRefresh)
        .where(
            PassRefresh.program_id == program.id,
            PassRefresh.status != "superseded",
        )
        .order_by(PassRefresh.id.desc())
        .limit(1)
    )
    return stores.refresh_view(refresh) if refresh is not None else None


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two '#rrggbb' colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def warnings(design: dict[str, Any]) -> list[dict[str, str]]:
    found = []
    for key in ("foreground", "label"):
        ratio = contrast(design[key], design["background"])
        if ratio < MIN_CONTRAST:
            found.append(
                {
                    "code": f"low_contrast_{key}",
                    "message": f"The {key} colour is hard to read on the background "
                    f"(contrast {ratio:.1f}:1; aim for {MIN_CONTRAST:g}:1 or more).",
                }
            )
    return found


# -- checking a change -----------------------------------------------------------


def _line(field: str, value: object) -> str:
    limit, may_be_empty = _LINES[field]
    return checks.text(
        value,
        field,
        f"invalid_{field}",
        longest=limit,
        shortest=0 if may_be_empty else 1,
    )


def _by_language(
    field: str, value: Any, limit: int, code: str = "invalid_texts"
) -> dict[str, str]:
    """Texts by language; all empty clears the field (so Russian is optional)."""
    return checks.localized(value, field, code, longest=limit, required=False)


def _texts(program: Program, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail("invalid_texts", "texts must be an object")
    unknown = set(value) - set(_TEXTS)
    if unknown:
        raise _fail(
            "invalid_texts",
            f"texts: unknown {', '.join(sorted(map(str, unknown)))} "
            f"(known: {', '.join(_TEXTS)})",
        )
    texts = dict(program.texts or {})
    for field, text in value.items():
        checked = _by_language(f"texts.{field}", text, _TEXTS[field])
        if checked:
            texts[field] = checked
        else:
            texts.pop(field, None)
    return texts


def _colors(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail("invalid_colors", "colors must be an object")
    unknown = set(value) - set(COLORS)
    if unknown:
        raise _fail(
            "invalid_colors",
            f"colors: unknown {', '.join(sorted(map(str, unknown)))} "
            f"(known: {', '.join(COLORS)})",
        )
    result = {}
    for key, colour in value.items():
        if not isinstance(colour, str) or not _HEX.match(colour):
            raise _fail("invalid_colors", f"colors.{key} must be #rrggbb (hex)")
        result[key] = colour.lower()
    return result


_whole = checks.is_whole


def _decimal(name: str, value: Any) -> Decimal:
    return checks.decimal(value, f"rules.{name}", "invalid_rules")


def _rules(program: Program, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail("invalid_rules", "rules must be an object")
    known = (
        "max_redeem_share",
        "point_value",
        "welcome_bonus",
        "points_rounding",
        "signup_otp",
        "gross_margin_percent",
        "message_cap",
        "profile_points",
        "fallback_channels",
    )
    unknown = set(value) - set(known)
    if unknown:
        raise _fail(
            "invalid_rules",
            f"rules: unknown {', '.join(sorted(map(str, unknown)))} "
            f"(known: {', '.join(known)})",
        )
    rules = dict(program.rules or {})
    if "max_redeem_share" in value:
        share = _decimal("max_redeem_share", value["max_redeem_share"])
        if not Decimal(0) <= share <= Decimal(1) or _places(share) > 2:
            raise _fail(
                "invalid_rules",
                "rules.max_redeem_share: a share of the receipt from 0 to 1 "
                "with at most 2 decimals (0.3 = 30%)",
            )
        rules["max_redeem_share"] = _decimal_text(share)
    if "point_value" in value:
        worth = _decimal("point_value", value["point_value"])
        if not Decimal("0.01") <= worth <= Decimal(10_000) or _places(worth) > 2:
            raise _fail(
                "invalid_rules",
                "rules.point_value: roubles per point, 0.01 to 10000, in whole kopecks",
            )
        rules["point_value"] = _decimal_text(worth)
    if "welcome_bonus" in value:
        bonus = value["welcome_bonus"]
        if not _whole(bonus, 0, MAX_WELCOME_BONUS):
            raise _fail(
                "invalid_rules",
                f"rules.welcome_bonus: whole points, 0 to {MAX_WELCOME_BONUS}",
            )
        rules["welcome_bonus"] = bonus
    if "points_rounding" in value:
        rounding = value["points_rounding"]
        if not isinstance(rounding, str) or rounding not in ROUNDING:
            raise _fail(
                "invalid_rules",
                f"rules.points_rounding: one of {', '.join(ROUNDING)} "
                "(how earned points are rounded to whole points)",
            )
        rules["points_rounding"] = rounding
    if "signup_otp" in value:
        if not isinstance(value["signup_otp"], bool):
            raise _fail(
                "invalid_rules",
                "rules.signup_otp: true or false (sign-up asks for an SMS code)",
            )
        rules["signup_otp"] = value["signup_otp"]
    if "gross_margin_percent" in value:
        # Results (issue 16): ROMI counts this share of incremental revenue.
        if not _whole(value["gross_margin_percent"], 0, 100):
            raise _fail(
                "invalid_rules",
                "rules.gross_margin_percent: whole percent 0 to 100 "
                "(the gross margin on sales, for ROMI)",
            )
        rules["gross_margin_percent"] = value["gross_margin_percent"]
    if "message_cap" in value:
        rules["message_cap"] = _message_cap(value["message_cap"])
    if "profile_points" in value:
        if not _whole(value["profile_points"], 0, MAX_WELCOME_BONUS):
            raise _fail(
                "invalid_rules",
                "rules.profile_points: whole points, 0 (off) to "
                f"{MAX_WELCOME_BONUS}, granted once for a completed profile",
            )
        rules["profile_points"] = value["profile_points"]
    if "fallback_channels" in value:
        # Campaign and automation messages by SMS / e-mail to members without a
        # card in a wallet (services.fallback).
        rules["fallback_channels"] = fallback.parse_mode(value["fallback_channels"])
    return rules


def _message_cap(cap: Any) -> dict[str, int] | None:
    """{"messages": 1-50, "days": 1-90}, or null for no cap."""
    if cap is None:
        return None
    if (
        not isinstance(cap, dict)
        or set(cap) != {"messages", "days"}
        or not _whole(cap["messages"], 1, 50)
        or not _whole(cap["days"], 1, 90)
    ):
        raise _fail(
            "invalid_rules",
            'rules.message_cap: {"messages": 1 to 50, "days": 1 to 90} or null '
            "(marketing messages per member in that many days)",
        )
    return {"messages": int(cap["messages"]), "days": int(cap["days"])}


def _hour(name: str, value: object) -> int:
    if not _whole(value, 0, 23):
        raise _fail("invalid_quiet_hours", f"quiet_hours.{name}: an hour, 0 to 23")
    return value


def _quiet_hours(value: Any, rules: dict[str, Any]) -> None:
    if not isinstance(value, dict) or set(value) != {"from", "until"}:
        raise _fail(
            "invalid_quiet_hours",
            'quiet_hours must be {"from": 21, "until": 9} (hours in the program\'s '
            "time zone; equal hours mean no quiet time)",
        )
    rules["quiet_hours"] = [
        _hour("from", value["from"]),
        _hour("until", value["until"]),
    ]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _country(value: Any) -> str:
    """ISO 3166-1 alpha-2 (decides the card page's wallet buttons)."""
    if not isinstance(value, str) or not _COUNTRY.match(value.strip().upper()):
        raise _fail("invalid_country", "country must be two letters, e.g. RU or KZ")
    return value.strip().upper()


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or value not in _zones():
        raise _fail(
            "invalid_timezone", "timezone must be an IANA zone such as Europe/Moscow"
        )
    return value


def _percent(index: int, value: Any) -> int | float:
    field = f"tiers[{index}].earn_percent"
    number = Decimal(str(checks.number(value, field, 0, 100, "invalid_tiers")))
    if _places(number) > 2:
        raise _fail(
            "invalid_tiers",
            f"tiers[{index}].earn_percent: 0 to 100, at most 2 decimals",
        )
    return _number(number)


def _tiers(program: Program, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TIERS:
        raise _fail("invalid_tiers", f"tiers: a list of 1 to {MAX_TIERS} tiers")
    tiers: list[dict[str, Any]] = []
    for index, tier in enumerate(value):
        allowed = {"code", "name", "min_spend", "earn_percent"}
        if not isinstance(tier, dict) or set(tier) - allowed:
            raise _fail(
                "invalid_tiers",
                f"tiers[{index}] must be an object with {', '.join(sorted(allowed))}",
            )
        if set(tier) != allowed:
            missing = ", ".join(sorted(allowed - set(tier)))
            raise _fail("invalid_tiers", f"tiers[{index}]: missing {missing}")
        code = tier["code"]
        if not isinstance(code, str) or not _TIER_CODE.match(code):
            raise _fail(
                "invalid_tiers",
                f"tiers[{index}].code: lowercase letters, digits, '-' and '_' "
                "(up to 30)",
            )
        names = tier["name"]
        if not isinstance(names, dict) or not isinstance(names.get("ru"), str):
            raise _fail("invalid_tiers", f'tiers[{index}].name needs {{"ru": ...}}')
        checked = _by_language(f"tiers[{index}].name", names, 40, "invalid_tiers")
        if "ru" not in checked:
            raise _fail("invalid_tiers", f"tiers[{index}].name.ru must not be empty")
        spend = tier["min_spend"]
        if not _whole(spend, 0, MAX_SPEND):
            raise _fail(
                "invalid_tiers",
                f"tiers[{index}].min_spend: whole roubles, 0 to {MAX_SPEND}",
            )
        tiers.append(
            {
                "code": code,
                "name": checked,
                "min_spend": spend,
                "earn_percent": _percent(index, tier["earn_percent"]),
            }
        )
    codes = [tier["code"] for tier in tiers]
    if len(set(codes)) != len(codes):
        raise _fail("invalid_tiers", "tiers: each code may appear once")
    if tiers[0]["min_spend"] != 0:
        raise _fail(
            "invalid_tiers", "tiers: the first tier is everyone's (min_spend 0)"
        )
    spends = [tier["min_spend"] for tier in tiers]
    if any(b <= a for a, b in zip(spends, spends[1:], strict=False)):
        raise _fail(
            "invalid_tiers",
            "tiers: min_spend must go up strictly from one tier to the next",
        )
    dropped = {tier["code"] for tier in program.tiers} - set(codes)
    if dropped:
        held = db.session.scalar(
            select(func.count())
            .select_from(Member)
            .where(
                Member.program_id == program.id,
                Member.tier.in_(dropped),
                Member.erased_at.is_(None),
            )
        )
        if held:
            raise _fail(
                "tier_in_use",
                f"tiers: {', '.join(sorted(dropped))} cannot be removed: "
                f"{held} member(s) hold it",
            )
    return tiers


def resolve(program: Program, body: Any) -> dict[str, Any]:
    """The program's columns after the change in `body`, checked (422 on the
    first problem; nothing is changed here). Objects merge key by key (colors,
    rules, texts); tiers are replaced as a whole list."""
    if not isinstance(body, dict):
        raise _fail("invalid_body", "a JSON object is required")
    unknown = set(body) - set(FIELDS)
    if unknown:
        raise _fail(
            "unknown_field", f"unknown fields: {', '.join(sorted(map(str, unknown)))}"
        )
    values: dict[str, Any] = {}
    design = dict(program.design)
    for field in _LINES:
        if field in body:
            text = _line(field, body[field])
            if field == "brand_name":
                design["brand_name"] = text
            else:
                values[field] = text
    if "texts" in body:
        values["texts"] = _texts(program, body["texts"])
    if "colors" in body:
        design.update(_colors(body["colors"]))
    if design != program.design:
        values["design"] = design
    rules = dict(program.rules or {})
    if "rules" in body:
        rules = _rules(program, body["rules"])
    if "quiet_hours" in body:
        _quiet_hours(body["quiet_hours"], rules)
    if rules != (program.rules or {}):
        values["rules"] = rules
    if "timezone" in body:
        values["timezone"] = _timezone(body["timezone"])
    if "country" in body:
        values["country"] = _country(body["country"])
    if "tiers" in body:
        values["tiers"] = _tiers(program, body["tiers"])
    return {
        key: value for key, value in values.items() if getattr(program, key) != value
    }


# -- changing ------------------------------------------------------------------


def _shown(program: Program) -> tuple[Any, ...]:
    """What the program contributes to its passes (equal: no pass changes)."""
    return (
        pass_service.program_view(program),
        tuple(
            (tier["code"], tuple(sorted(tier["name"].items())))
            for tier in program.tiers
        ),
    )


def _thresholds(tiers: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """What decides members' tiers: each code and its min_spend, in order."""
    return [(tier["code"], tier.get("min_spend", 0)) for tier in tiers]


def _after_change(
    program: Program, before: tuple[Any, ...], retier: bool = False
) -> dict[str, Any] | None:
    """Queue a refresh of every pass if what passes show changed, or one that
    re-tiers every member first if the tier thresholds changed."""
    if not retier and _shown(program) == before:
        return None
    return stores.refresh_view(stores.queue_refresh(program, retier=retier))


def apply(program: Program, body: Any, key: ApiKey | None) -> dict[str, Any]:
    """Change the settings; returns the new view with `changed` and `refresh`
    (null when no pass needs rebuilding). The caller commits.

    New tier thresholds (codes or min_spend) re-tier every member from their
    rolling 12-month spend in the queued refresh, so nobody waits for their
    next purchase to move up (or down); passes whose tier moved are pushed."""
    changes = resolve(program, body)
    before = _shown(program)
    thresholds_before = _thresholds(program.tiers)
    retier = "tiers" in changes and _thresholds(changes["tiers"]) != thresholds_before
    for column, value in changes.items():
        setattr(program, column, value)
    db.session.flush()
    refresh = _after_change(program, before, retier) if changes else None
    if changes:
        details: dict[str, Any] = {
            "changed": sorted(changes),
            "refresh_id": refresh["id"] if refresh else None,
        }
        if retier:
            details["retier"] = {
                "before": [list(pair) for pair in thresholds_before],
                "after": [list(pair) for pair in _thresholds(program.tiers)],
            }
        audit.record(
            "program.settings",
            target=f"program:{program.id}",
            program_id=program.id,
            key=key,
            details=details,
        )
    return {**view(program), "changed": sorted(changes), "refresh": refresh}


# -- images --------------------------------------------------------------------


def _kind(kind: str) -> str:
    if kind not in passes.images.KINDS:
        raise NotFound("unknown_image", "Images are icon, logo and strip.")
    return kind


def upload_image(
    program: Program, kind: str, data: bytes, key: ApiKey | None
) -> dict[str, Any]:
    """Check, normalise and keep an uploaded image; its passes are refreshed."""
    _kind(kind)
    try:
        image = passes.normalise_upload(kind, data)
    except passes.ImageRejected as rejected:
        raise _fail(rejected.code, rejected.message) from None
    digest = hashlib.sha256(image.png).hexdigest()
    before = _shown(program)
    row = db.session.scalar(
        select(ProgramImage).where(
            ProgramImage.program_id == program.id, ProgramImage.kind == kind
        )
    )
    if row is None:
        row = ProgramImage(program_id=program.id, kind=kind)
        db.session.add(row)
    row.sha256, row.width, row.height, row.data = (
        digest,
        image.width,
        image.height,
        image.png,
    )
    images = dict(program.design.get("images") or {})
    images[kind] = {"sha256": digest, "width": image.width, "height": image.height}
    program.design = {**program.design, "images": images}
    db.session.flush()
    refresh = _after_change(program, before)
    audit.record(
        "program.image.upload",
        target=f"program:{program.id}",
        program_id=program.id,
        key=key,
        details={
            "kind": kind,
            "sha256": digest,
            "width": image.width,
            "height": image.height,
            "refresh_id": refresh["id"] if refresh else None,
        },
    )
    return {"images": image_view(program), "refresh": refresh}


def remove_image(program: Program, kind: str, key: ApiKey | None) -> dict[str, Any]:
    """Drop an uploaded image: passes fall back to the drawn one."""
    _kind(kind)
    images = dict(program.design.get("images") or {})
    if kind not in images:
        return {"images": image_view(program), "refresh": None}
    before = _shown(program)
    images.pop(kind)
    program.design = {**program.design, "images": images}
    db.session.execute(
        delete(ProgramImage).where(
            ProgramImage.program_id == program.id, ProgramImage.kind == kind
        )
    )
    db.session.flush()
    refresh = _after_change(program, before)
    audit.record(
        "program.image.remove",
        target=f"program:{program.id}",
        program_id=program.id,
        key=key,
        details={"kind": kind, "refresh_id": refresh["id"] if refresh else None},
    )
    return {"images": image_view(program), "refresh": refresh}


# -- preview -------------------------------------------------------------------

SAMPLE_NAME = {"ru": "Анна Смирнова", "en": "Anna Smirnova"}
SAMPLE_POINTS = 1250


def preview(program: Program, body: Any, language: str) -> dict[str, Any]:
    """The front of a sample member's pass with the settings in `body` applied
    (nothing is saved): its pass.json and its images (@2x, data: URLs)."""
    changes = resolve(program, body)
    draft = Program(
        id=program.id,
        name=changes.get("name", program.name),
        organization_name=changes.get("organization_name", program.organization_name),
        description=changes.get("description", program.description),
        logo_text=changes.get("logo_text", program.logo_text),
        pass_type_identifier=program.pass_type_identifier,
        team_identifier=program.team_identifier,
        design=changes.get("design", program.design),
        texts=changes.get("texts", program.texts),
        tiers=changes.get("tiers", program.tiers),
    )
    return {**sample_pass(draft, language), "warnings": warnings(draft.design)}


def sample_pass(
    program: Program,
    language: str,
    *,
    offer: str = "",
    offers: tuple[passes.Offer, ...] = (),
) -> dict[str, Any]:
    """A sample member's pass of this program (pass.json and @2x images as data:
    URLs), with `offer` in the message field and `offers` as new offers: the
    settings preview and the campaign preview (campaigns.preview) both show it."""
    program_view = pass_service.program_view(program)
    tiers = program.tiers
    tier = tiers[1] if len(tiers) > 1 else tiers[0] if tiers else None
    card = "2000000000017"
    member = passes.Member(
        serial_number="preview",
        # Not a secret: the sample pass is never installed.
        authentication_token="preview-preview-preview",  # noqa: S106
        card_number=card,
        barcode_message=card,
        name=passes.pick(SAMPLE_NAME, language),
        language=language,
        points=SAMPLE_POINTS,
        tier=dict(tier["name"]) if tier else {"ru": "—"},
        offer=offer,
        card_url=pass_service.public_url("/c/preview"),
        privacy_url=pass_service.public_url("/c/preview#privacy"),
        offers=offers,
        offers_new=bool(offers),
    )
    pass_json = passes.build_pass_json(program_view, member, [])
    images = {
        name: "data:image/png;base64," + base64.b64encode(png).decode()
        for name, png in passes.preview_images(program_view.design).items()
    }
    return {"pass": pass_json, "images": images}
