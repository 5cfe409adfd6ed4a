"""A loyalty program (one brand, one pass type) and its stores."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.models.base import Base, utcnow

DEFAULT_RULES: dict[str, Any] = {
    # Points may pay at most this share of a receipt.
    "max_redeem_share": "0.3",
    # Points credited at sign-up (ledger kind "bonus").
    "welcome_bonus": 100,
    # Roubles one point is worth when redeemed (and per point earned).
    "point_value": 1,
    # How earned points are rounded to whole points: down, nearest (halves up), up.
    "points_rounding": "down",
    # Messages go out only between these hours, in the program's time zone.
    "quiet_hours": [21, 9],
    # Sign-up asks for a one-time code sent by SMS (verified phones only).
    "signup_otp": False,
    # The gross margin on sales, in percent: a campaign's ROMI counts this share
    # of its incremental revenue as earned.
    "gross_margin_percent": 50,
    # At most {"messages": N, "days": D} marketing messages per member (see
    # messaging.CAPPED_KINDS); None: no cap.
    "message_cap": None,
    # Points granted once when the customer completes their profile on the card
    # page (services.profile.complete); 0: off.
    "profile_points": 0,
    # Members without a card in a wallet get campaign and automation messages by
    # none | sms | email | email_then_sms | sms_then_email (services.fallback).
    "fallback_channels": "none",
}


class Program(Base):
    __tablename__ = "program"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    organization_name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(200))
    logo_text: Mapped[str] = mapped_column(String(60))
    pass_type_identifier: Mapped[str] = mapped_column(String(120), unique=True)
    team_identifier: Mapped[str] = mapped_column(String(20))
    # Brand design: colours (hex) and optional uploaded images; see passes.Design.
    design: Mapped[dict[str, Any]]
    # Texts by language: {"terms": {"ru": ..., "en": ...}, "contacts": {...}}.
    texts: Mapped[dict[str, Any]]
    # Tiers, ascending: [{"code", "name": {"ru", "en"}, "min_spend", "earn_percent"}].
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    timezone: Mapped[str] = mapped_column(String(60), default="Europe/Moscow")
    # ISO 3166 country the program serves: decides the card page's wallet buttons
    # (Google Wallet is not available in Russia).
    country: Mapped[str] = mapped_column(String(2), default="RU", server_default="RU")
    # A brand with its own Apple pass type needs its own certificate and key files
    # (and the WWDR intermediate that issued them, when it is not WWDR_CERT_FILE);
    # unset means the deployment's files. Paths, not keys: secrets stay on disk.
    pass_cert_file: Mapped[str | None] = mapped_column(String(500))
    pass_key_file: Mapped[str | None] = mapped_column(String(500))
    wwdr_cert_file: Mapped[str | None] = mapped_column(String(500))
    # APNs token auth (APNS_AUTH=token) signs with a key of the pass type's team: a
    # brand of another team needs that team's .p8 key file and its key id (unset:
    # the deployment's APNS_KEY_FILE, which serves TEAM_IDENTIFIER only).
    apns_key_file: Mapped[str | None] = mapped_column(String(500))
    apns_key_id: Mapped[str | None] = mapped_column(String(20))
    # Points rules; missing keys fall back to DEFAULT_RULES (see `rule`).
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The update-tag counter of this program's passes is ProgramTag's row.
    # A new random token whenever any of the program's stores changes (set in the
    # same flush by app.models.program's before_flush hook), so processes can cache
    # the store list per token; a rolled-back change's token never comes back.
    stores_version: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    stores: Mapped[list[Store]] = relationship(
        back_populates="program", order_by="Store.id"
    )

    def __repr__(self) -> str:
        return f"<Program {self.slug}>"

    def tier_names(self, code: str) -> dict[str, str]:
        """The tier's name by language ({"ru": "Золото", "en": "Gold"})."""
        for tier in self.tiers:
            if tier["code"] == code:
                return dict(tier["name"])
        return {"ru": code}

    def tier_name(self, code: str, language: str) -> str:
        names = self.tier_names(code)
        return names.get(language) or names.get("ru") or code

    def rule(self, name: str) -> Any:
        """A points rule of this program, else the default."""
        return (self.rules or {}).get(name, DEFAULT_RULES[name])

    @property
    def base_tier(self) -> str:
        return self.tiers[0]["code"] if self.tiers else "base"


class ProgramTag(Base):
    """The update-tag counter of a program's passes, in a narrow row of its own.
    Taken with an upsert that holds the row lock until commit
    (`services.passes.next_update_tag`), so tags are handed out in commit order
    and a device can never miss a change by holding a tag issued after it.

    Not a column of `program`: every purchase that changes a pass updates this
    row, and on PostgreSQL each update writes a new version of the whole row. A
    program's row is wide (design, texts, rules), so its versions soon filled
    their page while any snapshot was open, each update then left the page (no
    HOT update: new index entries) and the purchases queued behind the row lock
    (docs/performance.md, "Stop 17"). The row is made on the program's first
    tag."""

    __tablename__ = "program_tag"

    program_id: Mapped[int] = mapped_column(
        ForeignKey("program.id", ondelete="CASCADE"), primary_key=True
    )
    last_update_tag: Mapped[int] = mapped_column(default=0)


class Store(Base):
    __tablename__ = "store"
    __table_args__ = (UniqueConstraint("program_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    city: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float]
    longitude: Mapped[float]
    relevant_text: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True)

    program: Mapped[Program] = relationship(back_populates="stores")

    def __repr__(self) -> str:
        return f"<Store {self.code}>"


class ProgramImage(Base):
    """A brand's uploaded pass image (icon, logo or strip), normalised PNG.

    Kept in the database (not a files directory) so that every web process and
    worker, on any host, reads the same image in the same transaction as the
    design that names it (`Program.design["images"][kind]["sha256"]`).
    """

    __tablename__ = "program_image"
    __table_args__ = (UniqueConstraint("program_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    kind: Mapped[str] = mapped_column(String(10))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int]
    height: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@event.listens_for(Session, "before_flush")
def _bump_stores_version(session: Session, flush_context: Any, instances: Any) -> None:
    changed = [
        obj
        for obj in (*session.new, *session.dirty, *session.deleted)
        if isinstance(obj, Store) and (obj in session.new or session.is_modified(obj))
    ]
    for store in changed:
        program = store.program or session.get(Program, store.program_id)
        if program is not None:
            program.stores_version = secrets.token_hex(8)
