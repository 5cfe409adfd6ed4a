"""Stores for marketers, and refreshing exactly the passes a store change moves.

Each pass carries the up-to-10 stores nearest its member. After a store is
added, moved, edited or closed, a `PassRefresh` row is queued; it is processed
in batches by member id (in the request for the first batch, then by the
`store_refresh` job), each pass recomputed with `refresh_pass`, which moves the
tag and pushes only when the content changed: exactly the passes whose nearest
set (or a listed store's text or place) changed.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

import passes
from app.extensions import db
from app.models import Member, Pass, PassRefresh, Program, Store
from app.models.base import utcnow
from app.services import audit, checks, loyalty
from app.services.errors import Conflict
from app.services.passes import member_location, program_stores, refresh_pass
from app.services.scheduler import scheduled

BATCH = 500
# Batches per scheduler run: other jobs get their turn between runs.
JOB_BATCHES = 20
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
TEXT_FIELDS = {"name": 120, "city": 80, "address": 200, "relevant_text": 120}


def store_view(store: Store) -> dict[str, Any]:
    return {
        "id": store.id,
        "code": store.code,
        "name": store.name,
        "city": store.city,
        "address": store.address,
        "latitude": store.latitude,
        "longitude": store.longitude,
        "relevant_text": store.relevant_text,
        "active": store.active,
    }


def refresh_view(refresh: PassRefresh) -> dict[str, Any]:
    return {
        "id": refresh.id,
        "status": refresh.status,
        "total": refresh.total,
        "processed": refresh.processed,
        "refreshed": refresh.refreshed,
        "retier": refresh.retier,
        "retiered": refresh.retiered,
    }


def apply(program: Program, store: Store | None, body: Any) -> Store:
    """Create (store None) or change a store from a JSON body; 422 on bad input."""
    body = checks.mapping(body, "the body", "invalid_body")
    allowed = ("code", *TEXT_FIELDS, "latitude", "longitude", "active")
    checks.known_keys(body, allowed)
    values: dict[str, Any] = {}
    creating = store is None
    required = set(allowed) - {"active"} if creating else set()
    missing = required - set(body)
    if missing:
        checks.fail("missing_field", f"missing: {', '.join(sorted(missing))}")
    if "code" in body:
        code = body["code"]
        if not isinstance(code, str) or not _CODE.match(code):
            checks.fail("invalid_code", "code: lowercase letters, digits and '-'")
        clash = db.session.scalar(
            select(Store.id).where(Store.program_id == program.id, Store.code == code)
        )
        if clash is not None and (store is None or clash != store.id):
            raise Conflict("code_exists", f"A store with code {code!r} exists.")
        values["code"] = code
    for field, limit in TEXT_FIELDS.items():
        if field in body:
            values[field] = checks.text(
                body[field], field, f"invalid_{field}", longest=limit
            )
    for key, bound in (("latitude", 90.0), ("longitude", 180.0)):
        if key in body:
            values[key] = checks.number(body[key], key, -bound, bound, f"invalid_{key}")
    if "active" in body:
        values["active"] = checks.flag(body["active"], "active", "invalid_active")
    if store is None:
        store = Store(program_id=program.id, program=program, **values)
        db.session.add(store)
    else:
        for key, value in values.items():
            setattr(store, key, value)
    db.session.flush()
    return store


def snapshot(program: Program) -> list[dict[str, Any]]:
    """The program's active stores as pass inputs: take it before a change."""
    return [dataclasses.asdict(store) for store in program_stores(program)]


def queue_refresh(
    program: Program,
    stores_before: list[dict[str, Any]] | None = None,
    retier: bool = False,
) -> PassRefresh:
    """Queue a refresh of the program's passes after a store or settings change
    (`retier`: a tiers change; the members are re-tiered first). A queued
    refresh not yet started is replaced (its "before" is the older one, and
    the new one re-tiers if it did)."""
    older = db.session.scalars(
        select(PassRefresh)
        .where(
            PassRefresh.program_id == program.id,
            PassRefresh.status == "queued",
            PassRefresh.cursor == 0,
        )
        .order_by(PassRefresh.id)
    ).all()
    if older and stores_before is not None:
        # Their passes still show the oldest one's "before".
        stores_before = older[0].stores_before
    retier = retier or any(replaced.retier for replaced in older)
    if retier:
        # Every pass is re-hashed: a member's tier may have moved whatever
        # stores are near it.
        stores_before = None
    for replaced in older:
        replaced.status = "superseded"
        replaced.finished_at = utcnow()
    total = db.session.scalar(
        select(func.count()).select_from(Pass).where(Pass.program_id == program.id)
    )
    refresh = PassRefresh(
        program_id=program.id,
        status="queued",
        total=total or 0,
        stores_before=stores_before,
        retier=retier,
    )
    db.session.add(refresh)
    db.session.flush()
    return refresh


def after_change(program: Program, stores_before: list[dict[str, Any]]) -> PassRefresh:
    """Queue the refresh a store change needs and do its first batch now (small
    programs are done in the request; big ones go on in the worker's job)."""
    refresh = queue_refresh(program, stores_before)
    process(refresh)
    return refresh


def listing(program: Program) -> list[Store]:
    """The program's stores, closed ones too, in the order they were added."""
    return list(
        db.session.scalars(
            select(Store).where(Store.program_id == program.id).order_by(Store.id)
        )
    )


def _nearest(member: Member, shops: list[passes.Store]) -> list[passes.Store]:
    location = member_location(member, shops)
    if location is None:
        return []
    return passes.nearest_stores(shops, *location, limit=10)


def _retier_batch(
    refresh: PassRefresh, program: Program, limit: int, now: datetime
) -> None:
    """Re-tier the members of this batch's member-id range: those up to the
    last pass of the batch, or every remaining one when it is the last batch
    (members without a pass too). Their passes are refreshed right after, in
    the same transaction, so no tier is ever shown stale under a moved tag."""
    ids = db.session.scalars(
        select(Pass.member_id)
        .where(Pass.program_id == refresh.program_id, Pass.member_id > refresh.cursor)
        .order_by(Pass.member_id)
        .limit(limit)
    ).all()
    upto = ids[-1] if len(ids) == limit else None
    moved = loyalty.retier(program, refresh.cursor, upto, now)
    refresh.retiered += len(moved)


def process(
    refresh: PassRefresh, limit: int | None = None, now: datetime | None = None
) -> None:
    """Refresh the next `limit` (BATCH) passes, by member id, of a queued refresh
    (re-tiering their members first if it is a tiers change's; `now` for the
    rolling spend)."""
    limit = limit or BATCH
    program = db.session.get(Program, refresh.program_id)
    assert program is not None
    if refresh.retier:
        _retier_batch(refresh, program, limit, now or utcnow())
    batch = list(
        db.session.scalars(
            select(Pass)
            .join(Member, Member.id == Pass.member_id)
            # The member comes in the same query (its location is needed).
            .options(contains_eager(Pass.member))
            .where(
                Pass.program_id == refresh.program_id, Pass.member_id > refresh.cursor
            )
            .order_by(Pass.member_id)
            .limit(limit)
            # Re-tiered members were updated in SQL: read their rows afresh.
            .execution_options(populate_existing=refresh.retier)
        )
    )
    before = None
    if refresh.stores_before is not None:
        before = [passes.Store(**store) for store in refresh.stores_before]
    after = program_stores(program)
    for pass_ in batch:
        if pass_.voided:
            continue
        # Same ten stores (same places and texts) before and after: unchanged.
        if before is not None and _nearest(pass_.member, before) == _nearest(
            pass_.member, after
        ):
            continue
        if refresh_pass(pass_):
            refresh.refreshed += 1
    refresh.processed += len(batch)
    if batch:
        refresh.cursor = batch[-1].member_id
    if len(batch) < limit:
        refresh.status = "done"
        refresh.finished_at = utcnow()
        if refresh.retier:
            audit.record(
                "program.retier",
                target=f"program:{program.id}",
                program_id=program.id,
                details={"refresh_id": refresh.id, "retiered": refresh.retiered},
            )


@scheduled("store_refresh")
def store_refresh_job(now: datetime) -> None:
    """Work through queued refreshes batch by batch (at most JOB_BATCHES per run),
    one transaction each; rows are claimed with SKIP LOCKED so several workers
    share the work."""
    for _ in range(JOB_BATCHES):
        refresh = db.session.scalar(
            select(PassRefresh)
            .where(PassRefresh.status == "queued")
            .order_by(PassRefresh.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if refresh is None:
            return
        process(refresh, now=now)
        db.session.commit()
