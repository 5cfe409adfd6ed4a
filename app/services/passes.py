"""The bridge between the database and the pure `passes` library.

A pass's content is a function of its program, member and the program's stores.
`refresh_pass` recomputes it and moves the update tag only when it changed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Integer, bindparam, func, select, text, update

import passes
from app.extensions import db
from app.i18n import date_text
from app.models import (
    Member,
    MemberOffer,
    Offer,
    Pass,
    Program,
    ProgramImage,
    ProgramTag,
    Store,
)
from app.models.base import utcnow
from app.services import membership_rules, outbox
from app.services import stamps as stamp_cards
from app.services.idlist import in_ids


def barcode_secret() -> bytes:
    """A key for barcode MACs derived from SECRET_KEY (never the key itself)."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"barcode-mac-v1", hashlib.sha256).digest()


def public_url(path: str) -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path


@lru_cache(maxsize=8)
def _load_signer(
    cert_file: str, key_file: str, wwdr_file: str, password: str | None, mtime: float
) -> passes.Signer:
    # mtime is part of the key so that replaced certificate files are picked up.
    return passes.Signer.from_pem(
        certificate_pem=Path(cert_file).read_bytes(),
        private_key_pem=Path(key_file).read_bytes(),
        wwdr_pem=Path(wwdr_file).read_bytes(),
        key_password=password.encode() if password else None,
    )


def signer(program: Program | None = None) -> passes.Signer:
    """The signer for a program's passes (its own files, else the deployment's)."""
    if program is None:
        return signer_of(None, None, None)
    return signer_of(
        program.pass_cert_file, program.pass_key_file, program.wwdr_cert_file
    )


def signer_files(
    cert_file: str | None, key_file: str | None, wwdr_file: str | None
) -> tuple[str, str, str]:
    """The certificate, key and WWDR files a program signs with: its own where
    set, else the deployment's."""
    config = current_app.config
    if cert_file and key_file:
        return cert_file, key_file, wwdr_file or config["WWDR_CERT_FILE"]
    return config["PASS_CERT_FILE"], config["PASS_KEY_FILE"], config["WWDR_CERT_FILE"]


def signer_of(
    cert_file: str | None, key_file: str | None, wwdr_file: str | None
) -> passes.Signer:
    """The signer for a program's own files (the program's columns, None where
    unset), else the deployment's."""
    config = current_app.config
    files = signer_files(cert_file, key_file, wwdr_file)
    missing = [name for name in files if not Path(name).is_file()]
    if missing:
        raise passes.PassSigningError(
            "pass signing files not found: "
            + ", ".join(missing)
            + " (run `flask --app wsgi dev-certs` for development certificates)"
        )
    mtime = max(Path(name).stat().st_mtime for name in files)
    loaded = _load_signer(*files, config["PASS_KEY_PASSWORD"], mtime)
    loaded.check_usable()
    return loaded


# sha256 -> uploaded image. An upload's bytes never change under its digest, so
# a process keeps the few it uses (a pass build then reads no image from the
# database, and the Design, hashed by digest, hits the image cache).
_artwork: dict[str, passes.Artwork] = {}
_ARTWORK_CACHED = 32


def artwork(program: Program, kind: str) -> passes.Artwork | None:
    """The program's uploaded `kind` image (icon, logo, strip), else None."""
    meta = (program.design.get("images") or {}).get(kind)
    if not meta:
        return None
    digest = meta["sha256"]
    found = _artwork.get(digest)
    if found is None:
        data = db.session.scalar(
            select(ProgramImage.data).where(
                ProgramImage.program_id == program.id,
                ProgramImage.kind == kind,
                ProgramImage.sha256 == digest,
            )
        )
        if data is None:
            # Replaced after this transaction read the design: the refresh the
            # replacement queued rebuilds this pass with the new image.
            return None
        if len(_artwork) >= _ARTWORK_CACHED:
            _artwork.pop(next(iter(_artwork)))
        found = _artwork[digest] = passes.Artwork(digest, data)
    return found


def design_view(program: Program) -> passes.Design:
    design = program.design
    return passes.Design(
        brand_name=design.get("brand_name", program.name),
        background=design["background"],
        foreground=design["foreground"],
        label=design["label"],
        accent=design["accent"],
        icon=artwork(program, "icon"),
        logo=artwork(program, "logo"),
        strip=artwork(program, "strip"),
    )


def program_view(program: Program) -> passes.Program:
    return passes.Program(
        pass_type_identifier=program.pass_type_identifier,
        team_identifier=program.team_identifier,
        organization_name=program.organization_name,
        description=program.description,
        logo_text=program.logo_text,
        design=design_view(program),
        web_service_url=public_url("/wallet"),
        terms=program.texts.get("terms", {}),
        contacts=program.texts.get("contacts", {}),
        # Optional English names in the program's texts: {"en": ...}.
        organization_names=_other_languages(program.texts.get("organization_name")),
        descriptions=_other_languages(program.texts.get("description")),
    )


def _other_languages(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str) and v.strip()}


def store_view(store: Store) -> passes.Store:
    return passes.Store(
        id=store.id,
        name=store.name,
        address=store.address,
        city=store.city,
        latitude=store.latitude,
        longitude=store.longitude,
        relevant_text=store.relevant_text,
    )


def active_stores(program_id: int) -> list[Store]:
    return list(
        db.session.scalars(
            select(Store)
            .where(Store.program_id == program_id, Store.active.is_(True))
            .order_by(Store.id)
        )
    )


# program id -> (stores_version, its active stores as pass inputs). Every pass
# refresh needs them and they rarely change; the version token is read from the
# program row in the caller's own transaction, so a process never uses a list
# older than what that transaction sees (see Program.stores_version).
_stores_cache: dict[int, tuple[str, list[passes.Store]]] = {}


def program_stores(program: Program) -> list[passes.Store]:
    """The program's active stores, as pass inputs (cached per stores_version)."""
    cached = _stores_cache.get(program.id)
    if cached is not None and cached[0] == program.stores_version:
        return cached[1]
    stores = [store_view(s) for s in active_stores(program.id)]
    _stores_cache[program.id] = (program.stores_version, stores)
    return stores


class Location(NamedTuple):
    latitude: float
    longitude: float


def member_location(member: Member, stores: list[passes.Store]) -> Location | None:
    """Where the member shops: their store, else the centre of their city's stores."""
    return _location(member.preferred_store_id, member.city, stores)


def _location(
    preferred_store_id: int | None, city: str | None, stores: list[passes.Store]
) -> Location | None:
    for store in stores:
        if store.id == preferred_store_id:
            return Location(store.latitude, store.longitude)
    in_city = [s for s in stores if city and s.city == city] or stores
    if not in_city:
        return None
    return Location(
        sum(s.latitude for s in in_city) / len(in_city),
        sum(s.longitude for s in in_city) / len(in_city),
    )


def nearest_stores(member: Member) -> list[passes.Store]:
    """The up-to-10 stores nearest the member (Apple's limit for `locations`)."""
    return stores_near(member.program, member.preferred_store_id, member.city)


def stores_near(
    program: Program, preferred_store_id: int | None, city: str | None
) -> list[passes.Store]:
    """`nearest_stores` from plain member fields."""
    stores = program_stores(program)
    location = _location(preferred_store_id, city, stores)
    if location is None:
        return []
    return passes.nearest_stores(stores, *location, limit=10)


# -- the member's offers on the pass (services.offers) ------------------------------

# Instances that shape the pass: usable ones, and the ends (redemptions, expiries)
# that tell whether the latest change was a new offer.
_PASS_OFFERS = (
    select(
        MemberOffer.member_id,
        MemberOffer.id,
        MemberOffer.status,
        MemberOffer.issued_at,
        MemberOffer.expires_at,
        MemberOffer.redeemed_at,
        Offer.title,
        Offer.terms,
    )
    .join(Offer, Offer.id == MemberOffer.offer_id)
    .where(MemberOffer.status.in_(("issued", "redeemed", "expired")))
)
# One member's, built once and from the tables (plain Core, not ORM entities):
# SQLAlchemy reuses its compiled SQL and skips the ORM's per-execution work,
# while the session still autoflushes first.
_OFFER_TABLE = Offer.__table__
_INSTANCES = MemberOffer.__table__
_ONE_MEMBERS_OFFERS = (
    select(
        _INSTANCES.c.member_id,
        _INSTANCES.c.id,
        _INSTANCES.c.status,
        _INSTANCES.c.issued_at,
        _INSTANCES.c.expires_at,
        _INSTANCES.c.redeemed_at,
        _OFFER_TABLE.c.title,
        _OFFER_TABLE.c.terms,
    )
    .join(_OFFER_TABLE, _OFFER_TABLE.c.id == _INSTANCES.c.offer_id)
    .where(
        _INSTANCES.c.member_id == bindparam("member_id"),
        _INSTANCES.c.status.in_(("issued", "redeemed", "expired")),
    )
    .order_by(_INSTANCES.c.id)
)


class PassOffers(NamedTuple):
    """A member's offers as the pass shows them, and whether the latest change
    was a new one (then the front field notifies)."""

    offers: tuple[passes.Offer, ...]
    new: bool


NO_OFFERS = PassOffers((), False)


def pass_offers(
    member_ids: Sequence[int],
    language_of: dict[int, str],
    zone: str,
    now: datetime | None = None,
    redeeming: Sequence[int] = (),
) -> dict[int, PassOffers]:
    """Each member's active offers for the pass (soonest expiry first: the one
    to use first leads) and whether a new offer is the latest change (one query
    for all). Members without any are left out. `redeeming`: instances a
    purchase is about to redeem (counted as redeemed now)."""
    if not member_ids:
        return {}
    now = now or utcnow()
    if len(member_ids) == 1:  # a purchase, a pass download: the prebuilt statement
        rows = db.session.execute(
            _ONE_MEMBERS_OFFERS, {"member_id": member_ids[0]}
        ).all()
    else:
        rows = db.session.execute(
            _PASS_OFFERS.where(
                in_ids(MemberOffer.member_id, list(member_ids))
            ).order_by(MemberOffer.member_id, MemberOffer.id)
        ).all()
    by_member: dict[int, list[Any]] = {}
    for row in rows:
        by_member.setdefault(row.member_id, []).append(row)
    tz = ZoneInfo(zone)
    out: dict[int, PassOffers] = {}
    for member_id, items in by_member.items():
        language = language_of.get(member_id, "ru")
        usable = [
            r
            for r in items
            if r.status == "issued"
            and r.id not in redeeming
            and (r.expires_at is None or r.expires_at > now)
        ]
        # When offers went: redeemed (or being redeemed), expired (by the job,
        # or due by now).
        ends = (
            [r.redeemed_at for r in items if r.redeemed_at is not None]
            + [now for r in items if r.id in redeeming]
            + [
                min(r.expires_at, now)
                for r in items
                if r.expires_at is not None
                and r.redeemed_at is None
                and (r.status == "expired" or r.expires_at <= now)
            ]
        )
        usable.sort(key=lambda r: (r.expires_at is None, r.expires_at or now, r.id))
        offers = tuple(
            passes.Offer(
                title=passes.pick(r.title, language),
                terms=passes.pick(r.terms, language) if r.terms else "",
                until=date_text(r.expires_at.astimezone(tz).date(), language)
                if r.expires_at is not None
                else "",
                key=str(r.id),
                ends=r.expires_at.isoformat() if r.expires_at is not None else "",
            )
            for r in usable
        )
        newest = max((r.issued_at for r in usable), default=None)
        new = newest is not None and (not ends or newest > max(ends))
        out[member_id] = PassOffers(offers, new)
    return out


def member_view(pass_: Pass, held: PassOffers | None = None) -> passes.Member:
    """The member side of the pass; `held`: their offers if already loaded."""
    member = pass_.member
    if held is None:
        held = pass_offers(
            [member.id], {member.id: member.language}, pass_.program.timezone
        ).get(member.id, NO_OFFERS)
    return member_inputs(
        program=pass_.program,
        serial_number=pass_.serial_number,
        authentication_token=pass_.authentication_token,
        voided=pass_.voided,
        card_number=member.card_number,
        card_token=member.card_token,
        name=member.name,
        language=member.language,
        points=member.points,
        tier=member.tier,
        offer=member.offer,
        offers=held,
        stamps=member.stamps,
        membership=membership_rules.pass_membership(
            pass_.program,
            member.membership_plan_id,
            member.membership_ends_at,
            member.language,
        ),
        feedback_token=member.feedback_token,
    )


def member_inputs(
    *,
    program: Program,
    serial_number: str,
    authentication_token: str,
    voided: bool,
    card_number: str,
    card_token: str,
    name: str,
    language: str,
    points: int,
    tier: str,
    offer: str,
    offers: PassOffers = NO_OFFERS,
    stamps: int = 0,
    membership: passes.Membership | None = None,
    feedback_token: str | None = None,
) -> passes.Member:
    """The member side of a pass from plain fields (`member_view` without ORM
    objects, for the POS path; both must give the same pass)."""
    return passes.Member(
        serial_number=serial_number,
        authentication_token=authentication_token,
        card_number=card_number,
        barcode_message=passes.barcode_payload(card_number, barcode_secret()),
        name=name or "—",
        language=language,
        points=points,
        tier=program.tier_names(tier),
        offer=offer,
        card_url=public_url(f"/c/{card_token}"),
        privacy_url=public_url(f"/c/{card_token}#privacy"),
        voided=voided,
        offers=offers.offers,
        offers_new=offers.new,
        stamps=stamps,
        stamps_target=stamp_cards.target(program),
        membership=membership,
        feedback_url=public_url(f"/f/{feedback_token}") if feedback_token else "",
    )


def pass_for_member(member: Member) -> Pass | None:
    return db.session.scalar(select(Pass).where(Pass.member_id == member.id))


class PassInputs(NamedTuple):
    """What `passes` builds a pass from (in the order its functions take)."""

    program: passes.Program
    member: passes.Member
    stores: list[passes.Store]


def pass_inputs(pass_: Pass) -> PassInputs:
    return PassInputs(
        program_view(pass_.program),
        member_view(pass_),
        nearest_stores(pass_.member),
    )


def content_hash(pass_: Pass) -> str:
    """SHA-256 of everything the pass shows (pass.json, strings, images)."""
    return passes.content_fingerprint(*pass_inputs(pass_))


# The program's tag row, made by its first tag. Textual: SQLAlchemy compiles
# an ON CONFLICT statement anew on each execution; the same SQL on both databases.
_TAKE_TAGS = (
    text(
        """
INSERT INTO program_tag (program_id, last_update_tag) VALUES (:program_id, :count)
ON CONFLICT (program_id) DO UPDATE
SET last_update_tag = program_tag.last_update_tag + excluded.last_update_tag
RETURNING last_update_tag"""
    )
    .bindparams(
        bindparam("program_id", type_=Integer), bindparam("count", type_=Integer)
    )
    .columns(last_update_tag=Integer)
)


def next_update_tag(program_id: int, count: int = 1) -> int:
    """Take the program's next `count` tags; the last of them. The row lock is
    held until commit, so tags stay monotonic in commit order (see ProgramTag)."""
    tag: int = (
        db.session.connection()
        .execute(_TAKE_TAGS, {"program_id": program_id, "count": count})
        .scalar_one()
    )
    return tag


def last_update_tag(program_id: int) -> int:
    """The last tag handed out in the program (0 before the first)."""
    tag: int | None = db.session.scalar(
        select(ProgramTag.last_update_tag).where(ProgramTag.program_id == program_id)
    )
    return tag or 0


def next_modified(previous: datetime | None) -> datetime:
    # HTTP dates have one-second resolution: keep Last-Modified strictly increasing
    # so that two changes within one second never answer 304 to the second.
    now = utcnow().replace(microsecond=0)
    if previous is not None and now <= previous:
        return previous.replace(microsecond=0) + timedelta(seconds=1)
    return now


def refresh_pass(pass_: Pass) -> bool:
    """Recompute the pass; if its content changed, move its tag and queue pushes.

    The outbox rows go into the same transaction; the caller commits.
    """
    digest = content_hash(pass_)
    if digest == pass_.content_hash:
        return False
    pass_.content_hash = digest
    pass_.update_tag = next_update_tag(pass_.program_id)
    pass_.updated_at = next_modified(pass_.updated_at if pass_.id else None)
    outbox.enqueue_pass_update(pass_)
    return True


def content_hashes(passes_: list[Pass]) -> list[str]:
    """`content_hash` of many passes (members loaded), sharing the program views
    and the nearest-ten choices between them."""
    digests: list[str] = []
    views: dict[int, passes.Program] = {}
    # The nearest ten depend only on where the member shops (see member_location).
    nearest: dict[tuple[int, int | None, str], list[passes.Store]] = {}
    # Every member's offers in one query per program.
    held: dict[int, PassOffers] = {}
    for program_id in {p.program_id for p in passes_}:
        group = [p for p in passes_ if p.program_id == program_id]
        held.update(
            pass_offers(
                [p.member_id for p in group],
                {p.member_id: p.member.language for p in group},
                group[0].program.timezone,
            )
        )
    for pass_ in passes_:
        member = pass_.member
        if pass_.program_id not in views:
            views[pass_.program_id] = program_view(pass_.program)
        place = (pass_.program_id, member.preferred_store_id, member.city or "")
        if place not in nearest:
            nearest[place] = nearest_stores(member)
        digests.append(
            passes.content_fingerprint(
                views[pass_.program_id],
                member_view(pass_, held.get(pass_.member_id, NO_OFFERS)),
                nearest[place],
            )
        )
    return digests


def refresh_passes(passes_: list[Pass], campaign_id: int | None = None) -> list[Pass]:
    """`refresh_pass` for many passes of one program at once; the changed ones.

    One tag range is taken from the program row (its lock is held until commit,
    so tags stay monotonic in commit order), the passes are flushed together and
    their devices' outbox rows (and Google syncs) are queued in bulk. The caller
    commits.
    """
    changed = [
        (pass_, digest)
        for pass_, digest in zip(passes_, content_hashes(passes_), strict=True)
        if digest != pass_.content_hash
    ]
    if not changed:
        return []
    by_program: dict[int, list[tuple[Pass, str]]] = {}
    for pass_, digest in changed:
        by_program.setdefault(pass_.program_id, []).append((pass_, digest))
    for program_id, group in sorted(by_program.items()):
        last = next_update_tag(program_id, len(group))
        for offset, (pass_, digest) in enumerate(group):
            pass_.content_hash = digest
            pass_.update_tag = last - len(group) + 1 + offset
            pass_.updated_at = next_modified(pass_.updated_at)
    db.session.flush()
    moved = [pass_ for pass_, _ in changed]
    outbox.enqueue_for_passes([p.id for p in moved], campaign_id)
    outbox.enqueue_google_many(
        [(p.member_id, outbox.GOOGLE_SYNC, str(p.member_id), p.id) for p in moved],
        campaign_id,
    )
    return moved


_SET_PASS = (
    update(Pass)
    .where(Pass.id == bindparam("pass_id"))
    .values(
        content_hash=bindparam("digest"),
        update_tag=bindparam("tag"),
        updated_at=bindparam("modified"),
    )
)


def refresh_pass_row(
    *,
    program_id: int,
    pass_id: int,
    member_id: int,
    content_hash: str,
    updated_at: datetime,
    digest: str,
) -> bool:
    """`refresh_pass` for a caller that holds the pass as plain values and has
    computed its new content `digest` (the POS path: no ORM objects). The same
    rules and lock order: the program's tag row first, then the outbox rows (whose
    pending keys other refreshes may hold), then the pass; a later Last-Modified."""
    if digest == content_hash:
        return False
    connection = db.session.connection()
    tag = next_update_tag(program_id)
    outbox.enqueue_pass_update_ids(pass_id, member_id)
    connection.execute(
        _SET_PASS,
        {
            "pass_id": pass_id,
            "digest": digest,
            "tag": tag,
            "modified": next_modified(updated_at),
        },
    )
    return True


def build_pkpass(pass_: Pass) -> bytes:
    return passes.build_pkpass(*pass_inputs(pass_), signer=signer(pass_.program))


def build_pkpasses(
    passes_: Sequence[Pass],
) -> dict[int, tuple[bytes, bytes] | Exception]:
    """`build_pkpass` of many passes (program and member loaded), by pass id, as
    (shared, own) parts (`passes.build_pkpass_parts`: the design's images, the
    same bytes object for every pass of the design, and the pass's own); a
    pass that cannot be built maps to its error. What passes of one program share
    is prepared once: the program's view and signer, every member's offers (one
    query instead of one per pass) and the nearest-ten choices. (The worker signs
    a campaign's passes ahead with this: docs/performance.md, "The device herd".)"""
    out: dict[int, tuple[bytes, bytes] | Exception] = {}
    by_program: dict[int, list[Pass]] = {}
    for pass_ in passes_:
        by_program.setdefault(pass_.program_id, []).append(pass_)
    for group in by_program.values():
        program = group[0].program
        try:
            view, signed_by = program_view(program), signer(program)
            held = pass_offers(
                [p.member_id for p in group],
                {p.member_id: p.member.language for p in group},
                program.timezone,
            )
        except Exception as error:  # noqa: BLE001 - reported per pass
            out.update(dict.fromkeys((p.id for p in group), error))
            continue
        nearest: dict[tuple[int | None, str], list[passes.Store]] = {}
        for pass_ in group:
            member = pass_.member
            place = (member.preferred_store_id, member.city or "")
            try:
                if place not in nearest:
                    nearest[place] = nearest_stores(member)
                out[pass_.id] = passes.build_pkpass_parts(
                    view,
                    member_view(pass_, held.get(pass_.member_id, NO_OFFERS)),
                    nearest[place],
                    signer=signed_by,
                )
            except Exception as error:  # noqa: BLE001 - reported per pass
                out[pass_.id] = error
    return out


# The stored hash of a pass whose content is known to have changed but was not
# re-hashed (see `move_changed_passes`); `refresh_pass` never computes it, so the
# next refresh moves the tag (conservative), and `pass_hashes` fills it in.
UNKNOWN_HASH = ""


class MovedPass(NamedTuple):
    pass_id: int
    member_id: int


def move_changed_passes(
    program_id: int, member_ids: Sequence[int], campaign_id: int | None = None
) -> list[MovedPass]:
    """Move the tags of these members' passes, whose content the caller KNOWS has
    changed (a new offer text), without building or hashing them; (pass id,
    member id) of the moved passes. Only adds/flushes; the caller commits.

    The same effect as `refresh_passes` for passes that did change, set-based: one
    tag range from the program row (its lock is held until commit, so tags stay
    monotonic in commit order), one UPDATE giving each pass its tag in pass-id
    order, Last-Modified now (strictly increasing per pass, see `next_modified`)
    and the stored hash UNKNOWN_HASH, then one INSERT ... SELECT of the devices'
    outbox rows and the Google syncs. The content hash is left to the
    `pass_hashes` job: until then a refresh of such a pass moves its tag even if
    nothing else changed (an extra push, never a missed one).
    """
    if not member_ids:
        return []
    now = utcnow().replace(microsecond=0)
    # By member id only (a filter on the program makes SQLite walk the program's
    # tag index, i.e. all its passes); the program is checked here instead.
    found = db.session.execute(
        select(Pass.id, Pass.member_id, Pass.program_id, Pass.updated_at >= now).where(
            in_ids(Pass.member_id, member_ids)
        )
    ).all()
    rows = sorted(
        (pass_id, member_id, recent)
        for pass_id, member_id, program, recent in found
        if program == program_id
    )
    if not rows:
        return []
    pass_ids = [pass_id for pass_id, _, _ in rows]
    last = next_update_tag(program_id, len(rows))
    # Changed within this second already (rare): one second after the last
    # change instead of now (read before the UPDATE below overwrites it).
    same_second = [pass_id for pass_id, _, recent in rows if recent]
    later = (
        [
            {"b_id": pass_id, "b_modified": next_modified(modified)}
            for pass_id, modified in db.session.execute(
                select(Pass.id, Pass.updated_at).where(in_ids(Pass.id, same_second))
            )
        ]
        if same_second
        else []
    )
    table = Pass.__table__
    numbered = (
        select(
            table.c.id,
            func.row_number().over(order_by=table.c.id).label("position"),
        )
        .where(in_ids(table.c.id, pass_ids))
        .subquery()
    )
    db.session.execute(
        update(table)
        .where(table.c.id == numbered.c.id)
        .values(
            update_tag=last - len(rows) + numbered.c.position,
            updated_at=now,
            content_hash=UNKNOWN_HASH,
        )
    )
    if later:
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(updated_at=bindparam("b_modified")),
            later,
        )
    # Pass objects this session holds must not keep their old tag or hash.
    moved = set(pass_ids)
    for held in list(db.session.identity_map.values()):
        if isinstance(held, Pass) and held.id in moved:
            db.session.expire(held, ["update_tag", "updated_at", "content_hash"])
    outbox.enqueue_for_passes_in_db(pass_ids, campaign_id)
    outbox.enqueue_google_many(
        [
            (member_id, outbox.GOOGLE_SYNC, str(member_id), pass_id)
            for pass_id, member_id, _ in rows
        ],
        campaign_id,
    )
    return [MovedPass(pass_id, member_id) for pass_id, member_id, _ in rows]
