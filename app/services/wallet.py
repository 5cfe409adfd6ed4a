"""Apple's pass web service: registrations, changed serials, device logs.

Android .pkpass apps speak the same protocol with the `AndroidPass` scheme.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, bindparam, delete, func, select

from app.database import read_rows
from app.extensions import db
from app.models import Device, DeviceLog, Pass, Program, Registration, WalletEvent
from app.models.base import utcnow
from app.services import webhooks
from app.services.errors import Malformed, NotFound, TooLarge, Unauthorized
from app.services.scheduler import scheduled

AUTH_SCHEMES = {"ApplePass": "apple", "AndroidPass": "android"}
# Device library identifiers and push tokens are opaque, but never need more than
# URL-safe characters; anything else is rejected rather than stored.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_PUSH_TOKEN = re.compile(r"^[A-Za-z0-9._:\-]{1,256}$")
_TAG = re.compile(r"^[0-9]{1,18}$")  # ASCII only: "²" passes str.isdigit()
# The log endpoint is unauthenticated and stores what it gets: bounded per request
# (and rate-limited per address, and kept LOG_KEEP_DAYS since rows hold addresses).
MAX_LOG_ENTRIES = 50
MAX_LOG_LENGTH = 1000
MAX_LOG_BODY = 32 * 1024
LOG_KEEP_DAYS = 30
# Made-up registrations would each be pushed on every change: beyond this many
# devices on one pass, the oldest registration goes.
MAX_DEVICES_PER_PASS = 10
# Compared against when the serial is unknown, so both cases take the same time.
_DUMMY_TOKEN = "x" * 32


def unauthorized() -> Unauthorized:
    return Unauthorized("unauthorized", "Missing or invalid pass authentication token")


class Credentials(NamedTuple):
    """What an Authorization header carries: the client platform and its token."""

    platform: str  # apple (ApplePass) or android (AndroidPass)
    token: str


class Authenticated(NamedTuple):
    """The pass a token opens, and the client platform."""

    pass_: Pass
    platform: str


def parse_authorization(header: str | None) -> Credentials:
    """'ApplePass <token>' -> ("apple", token); raise 401 on anything else."""
    scheme, _, token = (header or "").strip().partition(" ")
    platform = AUTH_SCHEMES.get(scheme)
    token = token.strip()
    if platform is None or not token:
        raise unauthorized()
    return Credentials(platform, token)


def authenticate(pass_type: str, serial: str, header: str | None) -> Authenticated:
    """The pass the token opens, and the client platform; one 401 for every failure."""
    platform, token = parse_authorization(header)
    pass_ = db.session.scalar(
        select(Pass)
        .join(Program, Pass.program_id == Program.id)
        .where(Program.pass_type_identifier == pass_type, Pass.serial_number == serial)
    )
    expected = pass_.authentication_token if pass_ is not None else _DUMMY_TOKEN
    matches = hmac.compare_digest(expected.encode(), token.encode())
    if pass_ is None or not matches:
        raise unauthorized()
    return Authenticated(pass_, platform)


def check_device_identifier(device_id: str) -> None:
    if not _IDENTIFIER.match(device_id):
        raise Malformed("bad_device_identifier", "Malformed device library identifier")


def parse_push_token(body: object) -> str:
    token = body.get("pushToken") if isinstance(body, dict) else None
    if not isinstance(token, str) or not _PUSH_TOKEN.match(token):
        raise Malformed("bad_push_token", 'Body must be {"pushToken": "<token>"}')
    return token


def register(device_id: str, pass_: Pass, push_token: str, platform: str) -> bool:
    """Register the device for the pass: True if new, False if known (token updated)."""
    device = db.session.scalar(
        select(Device).where(Device.device_library_identifier == device_id)
    )
    if device is None:
        device = Device(
            device_library_identifier=device_id,
            push_token=push_token,
            platform=platform,
        )
        db.session.add(device)
        db.session.flush()
    elif device.push_token != push_token or device.platform != platform:
        device.push_token, device.platform, device.updated_at = (
            push_token,
            platform,
            utcnow(),
        )
    existing = db.session.scalar(
        select(Registration).where(
            Registration.device_id == device.id, Registration.pass_id == pass_.id
        )
    )
    if existing is not None:
        return False
    db.session.add(Registration(device=device, pass_=pass_))
    _event(pass_, device.platform, "install")
    db.session.flush()
    _drop_oldest_registrations(pass_)
    return True


def _drop_oldest_registrations(pass_: Pass) -> None:
    """Keep the pass's newest MAX_DEVICES_PER_PASS registrations; the older ones
    go (as uninstalls), and their devices when left with no registration."""
    evicted = db.session.execute(
        select(Registration.id, Registration.device_id, Device.platform)
        .join(Device, Device.id == Registration.device_id)
        .where(Registration.pass_id == pass_.id)
        .order_by(Registration.id.desc())
        .offset(MAX_DEVICES_PER_PASS)
    ).all()
    if not evicted:
        return
    db.session.execute(
        delete(Registration).where(Registration.id.in_([row[0] for row in evicted]))
    )
    for _, _, platform in evicted:
        _event(pass_, platform, "uninstall")
    device_ids = {row[1] for row in evicted}
    still_used = set(
        db.session.scalars(
            select(Registration.device_id).where(Registration.device_id.in_(device_ids))
        )
    )
    orphans = device_ids - still_used
    if orphans:
        db.session.execute(delete(Device).where(Device.id.in_(orphans)))


def _event(pass_: Pass, platform: str, kind: str) -> None:
    # Install/uninstall history for the marketer's stats (registrations vanish).
    db.session.add(
        WalletEvent(
            program_id=pass_.program_id, pass_id=pass_.id, platform=platform, kind=kind
        )
    )
    webhooks.emit(
        pass_.program_id,
        "pass.installed" if kind == "install" else "pass.uninstalled",
        {"member_id": pass_.member_id, "platform": platform},
        member_id=pass_.member_id,
    )


def unregister(device_id: str, pass_: Pass) -> None:
    """Remove the registration; remove the device when it has none left."""
    device = db.session.scalar(
        select(Device).where(Device.device_library_identifier == device_id)
    )
    if device is None:
        return
    removed = cast(
        CursorResult[Any],
        db.session.execute(
            delete(Registration).where(
                Registration.device_id == device.id, Registration.pass_id == pass_.id
            )
        ),
    )
    if removed.rowcount:
        _event(pass_, device.platform, "uninstall")
    remaining = db.session.scalar(
        select(func.count())
        .select_from(Registration)
        .where(Registration.device_id == device.id)
    )
    if not remaining:
        db.session.delete(device)


def parse_tag(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not _TAG.match(value):
        raise Malformed("bad_tag", "passesUpdatedSince must be a tag from lastUpdated")
    return int(value)


# One statement from the device's unique index, through its registrations
# (unique device_id, pass_id) to the passes and their program by primary key
# (tests/app/test_herd_queries.py checks the plans): after a campaign every
# device asks this once, so it must not touch other devices' rows. The `+ 0`
# keeps both planners off the program's tag index (ix_pass_program_tag), which
# after a campaign would walk every changed pass of the program. No ORDER BY:
# with it the planner walks the program's tag index (every pass) instead of
# starting from the device's few registrations (bench/webservice.py). Built
# once: constructing and keying a statement per request costs ~0.2 ms of CPU.
_DEVICE_SERIALS = (
    select(Pass.serial_number, Pass.update_tag)
    .join(Registration, Registration.pass_id == Pass.id)
    .join(Device, Device.id == Registration.device_id)
    .join(Program, Program.id == Pass.program_id + 0)
    .where(
        Device.device_library_identifier == bindparam("b_device"),
        Program.pass_type_identifier == bindparam("b_type"),
    )
)
_DEVICE_SERIALS_SINCE = _DEVICE_SERIALS.where(
    Pass.update_tag + 0 > bindparam("b_since")
)
_PROGRAM_OF_TYPE = select(Program.id).where(
    Program.pass_type_identifier == bindparam("b_type")
)


def changed_serials(
    device_id: str, pass_type: str, since: int | None
) -> tuple[list[str], int] | None:
    """Serials of the device's passes changed after `since`, and the newest tag."""
    params: dict[str, Any] = {"b_device": device_id, "b_type": pass_type}
    query = _DEVICE_SERIALS
    if since is not None:
        query, params["b_since"] = _DEVICE_SERIALS_SINCE, since
    # Outside the request's session (one round trip on PostgreSQL).
    rows = sorted(read_rows(query, params), key=lambda row: row[1])
    if not rows:  # a second query only to tell 404 from 204
        known = read_rows(_PROGRAM_OF_TYPE, {"b_type": pass_type})
        if not known:
            raise NotFound("unknown_pass_type", "Unknown pass type identifier")
        return None
    return [serial for serial, _ in rows], rows[-1][1]


def check_log_size(size: int) -> None:
    """Refuse a log request body over MAX_LOG_BODY bytes."""
    if size > MAX_LOG_BODY:
        raise TooLarge(
            "log_too_large", f"A log request carries at most {MAX_LOG_BODY} bytes"
        )


def record_logs(body: object, client_address: str | None) -> int:
    """Store device log lines (bounded in number and length); returns how many."""
    logs = body.get("logs") if isinstance(body, dict) else None
    if not isinstance(logs, list) or not all(isinstance(line, str) for line in logs):
        raise Malformed("bad_logs", 'Body must be {"logs": ["message", ...]}')
    if len(logs) > MAX_LOG_ENTRIES:
        raise TooLarge("too_many_logs", f"At most {MAX_LOG_ENTRIES} log entries")
    for line in logs:
        db.session.add(
            # PostgreSQL text cannot hold NUL; devices' messages never need it.
            DeviceLog(
                message=line.replace("\x00", "")[:MAX_LOG_LENGTH],
                client_address=client_address,
            )
        )
    return len(logs)


@scheduled("device_logs")
def delete_old_logs(now: datetime) -> int:
    """Delete device log rows older than LOG_KEEP_DAYS (they hold client addresses)."""
    cutoff = now - timedelta(days=LOG_KEEP_DAYS)
    result = cast(
        CursorResult[Any],
        db.session.execute(delete(DeviceLog).where(DeviceLog.created_at < cutoff)),
    )
    return int(result.rowcount or 0)


def pass_devices(pass_: Pass | None) -> list[tuple[str, datetime]]:
    """(platform, registered at) of the pass's registered devices, oldest first."""
    if pass_ is None:
        return []
    return [
        (platform, registered)
        for platform, registered in db.session.execute(
            select(Device.platform, Registration.created_at)
            .join(Registration, Registration.device_id == Device.id)
            .where(Registration.pass_id == pass_.id)
            .order_by(Registration.id)
        )
    ]


def device_list(pass_: Pass | None) -> list[dict[str, str]]:
    """`pass_devices` as JSON-ready dicts (data downloads, the marketer API)."""
    return [
        {"platform": platform, "registered_at": registered.isoformat()}
        for platform, registered in pass_devices(pass_)
    ]
