"""The inputs of a pass: plain, immutable values (no Flask, no database).

`Text` is a localisable string, language code -> text:
{"ru": "Баллы", "en": "Points"}.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Text = Mapping[str, str]
LANGUAGES = ("ru", "en")


def pick(text: Text, language: str) -> str:
    """`text` in `language`, else Russian, else any language, else ''."""
    return text.get(language) or text.get("ru") or next(iter(text.values()), "")


@dataclass(frozen=True)
class Artwork:
    """An uploaded pass image: a PNG made by `passes.images.normalise_upload`.

    Compared and hashed by `digest` alone, so that a Design holding images stays
    as cheap to hash (the image cache key) as one without.
    """

    digest: str
    png: bytes = field(compare=False, repr=False)


@dataclass(frozen=True)
class Design:
    """A brand's look. Colours are '#rrggbb'. Images are drawn from the colours,
    except those the brand uploaded (`icon`, `logo`, `strip`)."""

    brand_name: str
    background: str
    foreground: str
    label: str
    accent: str
    icon: Artwork | None = None
    logo: Artwork | None = None
    strip: Artwork | None = None


@dataclass(frozen=True)
class GoogleProgram:
    """A program's Google Wallet settings: issuer, class and public URLs.

    `logo_url` must be a public image URL (Google fetches it); `callback_url`
    receives Google's signed save/delete callbacks.
    """

    issuer_id: str
    class_suffix: str
    program_name: Text
    logo_url: str
    homepage_url: str = ""
    callback_url: str = ""


@dataclass(frozen=True)
class Program:
    """What every pass of one loyalty program shares."""

    pass_type_identifier: str
    team_identifier: str
    organization_name: str
    description: str
    logo_text: str
    design: Design
    web_service_url: str
    terms: Text = field(default_factory=dict)
    contacts: Text = field(default_factory=dict)
    google: GoogleProgram | None = None
    # The organisation's name and the pass description in other languages than
    # the program's own (`organization_name`, `description`), e.g. {"en": ...}.
    organization_names: Text = field(default_factory=dict)
    descriptions: Text = field(default_factory=dict)


@dataclass(frozen=True)
class Store:
    """A store: shown on the back of the pass and, when near, on the lock screen."""

    id: int
    name: str
    address: str
    city: str
    latitude: float
    longitude: float
    relevant_text: str


@dataclass(frozen=True)
class Offer:
    """A personal offer the member can use, in the member's language: what it
    is, its terms, and until when (a date as the member reads it, or "")."""

    title: str
    terms: str = ""
    until: str = ""
    # For Google messages: a stable id and the expiry as an ISO date-time ("").
    key: str = ""
    ends: str = ""


@dataclass(frozen=True)
class Membership:
    """A paid membership the member holds, in the member's language: the plan's
    name, its last day as the member reads it, and the perks."""

    title: str
    until: str
    perks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Member:
    """One member's pass: identity, balance and what the card shows."""

    serial_number: str
    authentication_token: str
    card_number: str
    barcode_message: str
    name: str
    language: str
    points: int
    tier: Text
    offer: str
    card_url: str
    privacy_url: str
    voided: bool = False
    # Active offers, the best (the one to use first) first; `offers_new`: the
    # latest change was a new offer (notify), not a redemption or expiry.
    offers: tuple[Offer, ...] = ()
    offers_new: bool = False
    # A stamp card (0 target: the program runs none): stamps on the current card.
    stamps: int = 0
    stamps_target: int = 0
    # The paid membership held (None: none).
    membership: Membership | None = None
    # An open rating request (feedback): the rating page's address, else "".
    feedback_url: str = ""
