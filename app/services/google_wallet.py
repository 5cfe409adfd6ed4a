"""Google Wallet for members: insert class and object, Save link, updates, messages,
expiry on erasure, and save/delete callbacks.

What was last sent to Google is kept per object (`GoogleObject.body`), so an update
PATCHes only the fields that changed, and nothing when nothing did. Functions only
add/flush; the caller (view or worker) commits. API failures raise
`GoogleRetryableError` (retry with backoff) or `GooglePermanentError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

import passes
from app.extensions import db
from app.models import (
    GoogleCallback,
    GoogleClass,
    GoogleMessage,
    GoogleObject,
    Member,
    Pass,
    Program,
)
from app.models.base import utcnow
from app.services import passes as pass_service
from app.services import webhooks
from app.services.errors import TooLarge
from app.services.google_api import (
    ClientSettings,
    GoogleApiError,
    GoogleNotFound,
    GooglePermanentError,
    GoogleRetryableError,
    GoogleWalletClient,
    client_for,
)
from passes import google
from passes.google_callback import MAX_BODY_BYTES as MAX_CALLBACK_BYTES
from passes.google_callback import CallbackMessage, verify_callback

__all__ = [
    "GoogleApiError",
    "GooglePermanentError",
    "GoogleRetryableError",
    "add_message",
    "enabled",
    "expire_object",
    "save_link",
    "sync_class",
    "sync_object",
]

log = logging.getLogger(__name__)

OBJECT = "loyaltyObject"
CLASS = "loyaltyClass"
NOTIFY_LIMIT = 3  # notifying calls per object per 24 h (Google's limit)
NOTIFY_WINDOW = 24 * 3600
MAX_MESSAGES = 10  # Google keeps at most 10 messages on an object
# Fields Google may notify about when they change (its allow-list names these).
NOTIFYING_FIELDS = ("loyaltyPoints", "secondaryLoyaltyPoints")


# -- configuration -----------------------------------------------------------
def enabled() -> bool:
    """Google Wallet is configured: an issuer id and a readable service-account key."""
    config = current_app.config
    key_file = config.get("GOOGLE_SERVICE_ACCOUNT_FILE")
    return bool(config.get("GOOGLE_ISSUER_ID")) and bool(
        key_file and Path(key_file).is_file()
    )


def dry_run() -> bool:
    """Development: build everything, call nothing (Google rejects the dev key)."""
    return bool(current_app.config.get("GOOGLE_DRY_RUN"))


def client() -> GoogleWalletClient:
    config = current_app.config
    if not enabled():
        raise GooglePermanentError("Google Wallet is not configured")
    return client_for(
        ClientSettings(
            service_account_file=str(config["GOOGLE_SERVICE_ACCOUNT_FILE"]),
            api_url=str(config["GOOGLE_API_URL"]),
            token_url=str(config["GOOGLE_TOKEN_URL"]),
        )
    )


# -- model -> Google JSON ------------------------------------------------------
def logo_url(program: Program) -> str:
    """Public URL of the program's logo; the design hash busts Google's image cache."""
    version = hashlib.sha256(
        json.dumps(program.design, sort_keys=True).encode()
    ).hexdigest()[:12]
    return pass_service.public_url(f"/programs/{program.slug}/logo.png?v={version}")


def program_view(program: Program) -> passes.Program:
    """The pass inputs of the program, with its Google settings."""
    design = program.design
    names = program.texts.get("name") or {
        "ru": program.name,
        "en": design.get("brand_name", program.name),
    }
    settings = passes.GoogleProgram(
        issuer_id=str(current_app.config["GOOGLE_ISSUER_ID"]),
        class_suffix=program.slug,
        program_name=names,
        logo_url=logo_url(program),
        homepage_url=pass_service.public_url(f"/join/{program.slug}"),
        callback_url=pass_service.public_url("/google/callbacks"),
    )
    return replace(pass_service.program_view(program), google=settings)


def _pass(member: Member) -> Pass:
    pass_ = pass_service.pass_for_member(member)
    if pass_ is None:
        raise GooglePermanentError(f"member {member.id} has no pass")
    return pass_


def build_class(program: Program) -> dict[str, Any]:
    return google.build_loyalty_class(program_view(program))


def build_object(member: Member) -> dict[str, Any]:
    """The member's loyalty object: same inputs as the Apple pass."""
    pass_ = _pass(member)
    return google.build_loyalty_object(
        program_view(member.program),
        pass_service.member_view(pass_),
        pass_service.nearest_stores(member),
    )


def _hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# -- class and object ----------------------------------------------------------
def sync_class(program: Program) -> bool:
    """Insert or update the program's class if it changed; True if a call was made."""
    body = build_class(program)
    digest = _hash(body)
    record = db.session.scalar(
        select(GoogleClass).where(GoogleClass.program_id == program.id)
    )
    if record is not None and record.content_hash == digest:
        return False
    client().upsert(CLASS, body)
    if record is None:
        record = GoogleClass(program_id=program.id, class_id=body["id"])
        db.session.add(record)
    record.class_id, record.content_hash, record.synced_at = (
        body["id"],
        digest,
        utcnow(),
    )
    db.session.flush()
    return True


def _record(member: Member, lock: bool = False) -> GoogleObject | None:
    query = select(GoogleObject).where(GoogleObject.member_id == member.id)
    # Row lock on PostgreSQL: two workers never spend the same notification budget.
    return db.session.scalar(query.with_for_update() if lock else query)


def _insert_object(member: Member, body: dict[str, Any]) -> None:
    sync_class(member.program)
    client().upsert(OBJECT, body)


def ensure_object(member: Member) -> GoogleObject:
    """Insert the member's object (and the class) over REST, or bring it up to date."""
    record = _record(member, lock=True)
    if record is not None:
        sync_class(member.program)
        sync_object(member)
        return record
    body = build_object(member)
    _insert_object(member, body)
    record = GoogleObject(
        member_id=member.id,
        object_id=body["id"],
        class_id=body["classId"],
        state=body["state"],
        body=body,
        notified_at=[],
    )
    try:
        with db.session.begin_nested():
            db.session.add(record)
            db.session.flush()
    except IntegrityError:
        # A second click raced this one; its insert (or our 409 -> PATCH) stands.
        existing = _record(member)
        if existing is None:
            raise
        return existing
    return record


def save_link(member: Member) -> str:
    """The Save to Google Wallet link, after inserting the class and object."""
    if not dry_run():
        ensure_object(member)
    program = program_view(member.program)
    view = pass_service.member_view(_pass(member))
    wallet_client = client()
    claims = google.save_jwt_claims(
        wallet_client.service_account_email,
        google.object_id(program, view),
        google.class_id(program),
        [google.origin(str(current_app.config["PUBLIC_BASE_URL"]))],
    )
    return google.save_url(wallet_client.signer, claims)


def _recent_notifications(record: GoogleObject, now: float) -> list[float]:
    return [t for t in record.notified_at or [] if now - t < NOTIFY_WINDOW]


def notifications_left(record: GoogleObject, now: float | None = None) -> int:
    """How many notifying calls Google still allows this object in the last 24 h."""
    now = time.time() if now is None else now
    return max(0, NOTIFY_LIMIT - len(_recent_notifications(record, now)))


def _spend_notification(record: GoogleObject, now: float) -> None:
    record.notified_at = [*_recent_notifications(record, now), now]


def sync_object(member: Member) -> bool:
    """PATCH the member's object with what changed (after a balance, tier, offer or
    store change); balance and tier changes ask Google to notify the holder
    (NOTIFY_ON_UPDATE) while the 3-per-24 h budget lasts. No object yet (never
    saved to Google Wallet), expired, or nothing changed: no call, False."""
    record = _record(member, lock=True)
    if record is None or record.state == "EXPIRED" or dry_run():
        return False
    # A settings change (name, colours, logo) refreshes every pass, so the first
    # object synced after it brings the class up to date (no call if unchanged).
    sync_class(member.program)
    body = build_object(member)
    sent = record.body or {}
    # The member's offers are messages shown until they expire; the other
    # messages (campaigns, automations) stay as they were sent.
    wanted = _with_offer_messages(sent.get("messages", []), member)
    if wanted != sent.get("messages", []):
        body["messages"] = wanted
    changed = {key: value for key, value in body.items() if sent.get(key) != value}
    if not changed:
        return False
    now = time.time()
    notify = any(key in changed for key in NOTIFYING_FIELDS) and bool(
        notifications_left(record, now)
    )
    messages = body.pop("messages", sent.get("messages", []))
    try:
        client().patch(OBJECT, record.object_id, changed, notify=notify)
    except GoogleNotFound:
        # Gone from Google (or never made it): insert it whole again.
        _insert_object(member, body)
        messages, notify = [], False
    if notify:
        _spend_notification(record, now)
    record.body = {**body, "messages": messages}
    record.state = body["state"]
    record.synced_at = utcnow()
    db.session.flush()
    return True


def _with_offer_messages(
    live: list[dict[str, Any]], member: Member
) -> list[dict[str, Any]]:
    """The object's messages with its offer messages replaced by the member's
    active offers now (a redeemed or expired one disappears), within Google's
    ten: offers first, then the latest other messages."""
    offers = google.offer_messages(pass_service.member_view(_pass(member)))
    prefix = google.OFFER_MESSAGE_PREFIX
    others = [m for m in live if not str(m.get("id", "")).startswith(prefix)]
    room = max(MAX_MESSAGES - len(offers), 0)
    return (others[-room:] if room else []) + offers[:MAX_MESSAGES]


def add_message(
    member: Member, header: str, body: str, message_id: str | None = None
) -> str | None:
    """Add a message to the member's object: TEXT_AND_NOTIFY while Google's budget
    of 3 notifications per 24 h lasts, else TEXT. Keeps at most 10 messages on the
    object (the oldest go). `message_id` makes a retried call a no-op. Returns the
    message type sent, or None when there is no object to send to."""
    record = _record(member, lock=True)
    if record is None or record.state == "EXPIRED" or dry_run():
        return None
    if message_id is not None:
        done = db.session.scalar(
            select(GoogleMessage.message_type).where(
                GoogleMessage.google_object_id == record.id,
                GoogleMessage.message_id == message_id,
            )
        )
        if done is not None:
            return done
    message_id = message_id or secrets.token_hex(8)
    now = time.time()
    message_type = "TEXT_AND_NOTIFY" if notifications_left(record, now) else "TEXT"
    live = list((record.body or {}).get("messages", []))
    wallet_client = client()
    if len(live) >= MAX_MESSAGES:
        live = live[-(MAX_MESSAGES - 1) :]
        wallet_client.patch(OBJECT, record.object_id, {"messages": live})
    message = {"id": message_id, "header": header, "body": body}
    try:
        wallet_client.add_message(
            OBJECT, record.object_id, {**message, "messageType": message_type}
        )
    except GoogleRetryableError as error:
        if message_type != "TEXT_AND_NOTIFY" or error.reason != "quotaExceeded":
            raise
        # Google counts differently than we do (other notifications, other
        # senders): its budget is spent, so send it silently instead.
        message_type = "TEXT"
        wallet_client.add_message(
            OBJECT, record.object_id, {**message, "messageType": message_type}
        )
        record.notified_at = [now] * NOTIFY_LIMIT
    if message_type == "TEXT_AND_NOTIFY":
        _spend_notification(record, now)
    live.append({**message, "messageType": message_type})
    record.body = {**(record.body or {}), "messages": live}
    db.session.add(
        GoogleMessage(
            google_object_id=record.id,
            message_id=message_id,
            header=header[:200],
            body=body,
            message_type=message_type,
        )
    )
    db.session.flush()
    return message_type


def expire_object(member: Member) -> bool:
    """On erasure: set the object EXPIRED and drop the name from it (Google has no
    DELETE); the local copy keeps no personal data. False if there is none."""
    record = _record(member, lock=True)
    if record is None or record.state == "EXPIRED":
        return False
    if not dry_run():
        client().patch(
            OBJECT, record.object_id, {"state": "EXPIRED", "accountName": ""}
        )
    record.state = "EXPIRED"
    record.body = {"id": record.object_id, "classId": record.class_id}
    record.synced_at = utcnow()
    db.session.flush()
    return True


# -- save/delete callbacks -----------------------------------------------------
_root_keys_cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
_root_keys_lock = threading.Lock()
ROOT_KEYS_TTL = 3600


def root_keys() -> list[dict[str, Any]]:
    """Google's callback root keys: from GOOGLE_CALLBACK_KEYS_FILE, else fetched
    from GOOGLE_CALLBACK_KEYS_URL and cached for an hour."""
    config = current_app.config
    if config.get("GOOGLE_CALLBACK_KEYS_FILE"):
        document = json.loads(Path(config["GOOGLE_CALLBACK_KEYS_FILE"]).read_text())
        return list(document.get("keys", []))
    url = str(config["GOOGLE_CALLBACK_KEYS_URL"])
    with _root_keys_lock:
        cached = _root_keys_cache.get(url)
        if cached is not None and time.monotonic() - cached[0] < ROOT_KEYS_TTL:
            return cached[1]
    try:
        response = requests.get(url, timeout=10)
        response.raise_for_status()
        keys = list(response.json().get("keys", []))
    except (requests.RequestException, ValueError, AttributeError) as error:
        raise GoogleRetryableError(
            f"cannot fetch callback root keys: {error}"
        ) from error
    with _root_keys_lock:
        _root_keys_cache[url] = (time.monotonic(), keys)
    return keys


def check_callback_size(size: int) -> None:
    """Refuse a callback body larger than any Google sends (before parsing it)."""
    if size > MAX_CALLBACK_BYTES:
        raise TooLarge(
            "callback_too_large",
            f"A callback carries at most {MAX_CALLBACK_BYTES} bytes",
        )


def verify(body: Any) -> CallbackMessage:
    """A callback body verified against Google's keys (CallbackError otherwise)."""
    config = current_app.config
    return verify_callback(
        body,
        root_keys(),
        recipient_id=str(config["GOOGLE_ISSUER_ID"]),
        now_ms=int(time.time() * 1000),
        sender_id=str(config["GOOGLE_CALLBACK_SENDER_ID"]),
    )


def record_callback(message: CallbackMessage) -> bool:
    """Record a save or delete once per nonce; False for a duplicate delivery."""
    known = db.session.scalar(
        select(GoogleCallback.id).where(GoogleCallback.nonce == message.nonce)
    )
    if known is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(
                GoogleCallback(
                    nonce=message.nonce,
                    object_id=message.object_id,
                    class_id=message.class_id,
                    event_type=message.event_type,
                    exp_time_ms=message.exp_time_ms,
                )
            )
            db.session.flush()
    except IntegrityError:
        return False  # the same nonce, delivered twice at once
    record = db.session.scalar(
        select(GoogleObject)
        .where(GoogleObject.object_id == message.object_id)
        .with_for_update()
    )
    if record is None:
        return True
    if message.event_type == "save":
        record.save_count += 1
    else:
        record.delete_count += 1
    webhooks.emit(
        record.member.program_id,
        "pass.installed" if message.event_type == "save" else "pass.uninstalled",
        {"member_id": record.member_id, "platform": "google"},
        member_id=record.member_id,
    )
    # Deliveries can come out of order: the newest event decides `saved`.
    if message.exp_time_ms >= record.last_event_ms:
        record.saved = message.event_type == "save"
        record.last_event_ms = message.exp_time_ms
    db.session.flush()
    return True


def install_counts(program_id: int) -> dict[str, int]:
    """Objects issued, in a Google Wallet now (reachable), saves and deletions."""
    row = db.session.execute(
        select(
            func.count(GoogleObject.id),
            func.count(GoogleObject.id).filter(GoogleObject.saved.is_(True)),
            func.coalesce(func.sum(GoogleObject.save_count), 0),
            func.coalesce(func.sum(GoogleObject.delete_count), 0),
        )
        .join(Member, Member.id == GoogleObject.member_id)
        .where(Member.program_id == program_id)
    ).one()
    return {
        "objects": row[0],
        "saved": row[1],
        "saves": int(row[2]),
        "deletions": int(row[3]),
    }
