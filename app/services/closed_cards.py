"""Closed cards forget their devices: once a voided pass's void has gone out,
its registrations, the devices left with none, and the push tokens kept in its
old outbox rows are deleted (152-ФЗ: keep nothing a closed card no longer needs).

"Gone out" means: no delivery for the pass is still queued, and the pass has been
voided for VOID_GRACE. The push only tells a device to ask what changed; the
device then lists its changed serials, which needs its registration, and fetches
the voided pass. Devices do that within seconds of a push, and APNs holds a push
for an offline device for a while, so the registration stays a day after the
last delivery left the outbox. A device that re-registers later (the pass is
still on it) is forgotten again by the next run.

The `closed_passes` job runs this every scheduler tick, in batches.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, or_, select, update

from app.database import begin_write
from app.extensions import db
from app.models import Device, Pass, PushDelivery, Registration
from app.models.push import QUEUED
from app.services.scheduler import scheduled

VOID_GRACE = timedelta(days=1)
BATCH = 500


def forget_closed_passes(now: datetime, limit: int = BATCH) -> list[int]:
    """Forget the devices of up to `limit` voided passes whose void has gone out
    (see the module); the ids of the passes done. Caller commits."""
    begin_write()
    pending = exists().where(
        PushDelivery.pass_id == Pass.id, PushDelivery.status == QUEUED
    )
    traces = or_(
        exists().where(Registration.pass_id == Pass.id),
        exists().where(PushDelivery.pass_id == Pass.id, PushDelivery.push_token != ""),
    )
    ids = list(
        db.session.scalars(
            select(Pass.id)
            .where(
                Pass.voided,  # as ix_pass_voided says it
                Pass.updated_at <= now - VOID_GRACE,
                ~pending,
                traces,
            )
            .order_by(Pass.id)
            .limit(limit)
        )
    )
    if not ids:
        return []
    devices = list(
        db.session.scalars(
            select(Registration.device_id).where(Registration.pass_id.in_(ids))
        )
    )
    db.session.execute(
        delete(Registration)
        .where(Registration.pass_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    if devices:
        # A device registered for other passes too keeps its token for them.
        db.session.execute(
            delete(Device)
            .where(
                Device.id.in_(devices),
                ~exists().where(Registration.device_id == Device.id),
            )
            .execution_options(synchronize_session=False)
        )
    # The delivery records stay (status, times, reasons); their tokens go.
    db.session.execute(
        update(PushDelivery)
        .where(PushDelivery.pass_id.in_(ids), PushDelivery.push_token != "")
        .values(push_token="")
        .execution_options(synchronize_session=False)
    )
    return ids


@scheduled("closed_passes")
def closed_passes_job(now: datetime) -> None:
    """Forget closed passes' devices, a committed batch at a time."""
    while len(forget_closed_passes(now)) == BATCH:
        db.session.commit()
