"""Member import: a CSV from the old system (CRM, plastic cards) -> members.

The file (UTF-8 with or without BOM, `;` or `,` as Excel writes it, a header
line naming the columns) is read batch by batch from a `MemberImport` job:

- each batch of BATCH records is checked row by row (bad rows are reported with
  their line number and reason, never applied), then applied set-based: one
  SELECT of the members already known by phone, executemany INSERTs of the new
  members, their passes, opening-balance ledger entries (kind `import`) and old
  card numbers (`CardAlias`), executemany UPDATEs of the changed members, and one
  set-based tag move of their passes;
- the batch commits together with the job's cursor (byte offset and line), so a
  crash loses at most the batch in flight and the next run resumes from the
  cursor; the batch transaction locks the job row, so two workers never apply
  one batch twice;
- a real run is idempotent: a member is found by phone; a row equal to what is
  stored changes nothing; an opening balance is compared with the sum of the
  member's `import` entries and only the difference is posted. Blank optional
  cells keep what is stored.

Imported members get no welcome bonus. New passes are stored with an unknown
content hash (the `pass_hashes` job fills it in), as set-based campaigns do.
"""

from __future__ import annotations

import base64
import csv
import json
import logging
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

import phonenumbers
from flask import current_app
from sqlalchemy import (
    ColumnElement,
    String,
    any_,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import QueryableAttribute

import passes
from app import database
from app.extensions import db
from app.i18n import N_, text_in
from app.models import CardAlias, LedgerEntry, Member, MemberImport, Pass, Program
from app.models.base import utcnow
from app.models.imports import DONE, FAILED, QUEUED, RUNNING
from app.services import messaging, outbound, webhooks
from app.services.bulk import insert_rows
from app.services.errors import Invalid, NotFound
from app.services.idlist import in_ids
from app.services.passes import UNKNOWN_HASH, move_changed_passes
from app.services.scheduler import scheduled

log = logging.getLogger(__name__)

BATCH = 5_000
# Bad rows kept with their line and reason (all are counted).
MAX_ERRORS = 100
# Seconds one scheduler run spends on imports before yielding to other jobs.
RUN_SECONDS = 50.0
# A new member's consent_version: "import:<job id>" (the invitations find them).
CONSENT_VERSION = "import:{job}"
INVITE_BATCH = 200
# A multi-line quoted cell longer than this many lines is a broken file.
MAX_RECORD_LINES = 20

FIELDS = (
    "phone",
    "name",
    "email",
    "birthday",
    "card",
    "balance",
    "tier",
    "consent",
)
# Header names (lower case, spaces/underscores/hyphens removed) -> field.
HEADERS = {
    "phone": "phone",
    "телефон": "phone",
    "мобильныйтелефон": "phone",
    "name": "name",
    "fullname": "name",
    "имя": "name",
    "фио": "name",
    "email": "email",
    "mail": "email",
    "почта": "email",
    "электроннаяпочта": "email",
    "birthday": "birthday",
    "birthdate": "birthday",
    "dateofbirth": "birthday",
    "датарождения": "birthday",
    "деньрождения": "birthday",
    "card": "card",
    "cardnumber": "card",
    "oldcard": "card",
    "oldcardnumber": "card",
    "номеркарты": "card",
    "карта": "card",
    "старыйномеркарты": "card",
    "balance": "balance",
    "openingbalance": "balance",
    "points": "balance",
    "баланс": "balance",
    "баллы": "balance",
    "tier": "tier",
    "level": "tier",
    "уровень": "tier",
    "consent": "consent",
    "consentdate": "consent",
    "consentat": "consent",
    "согласие": "consent",
    "датасогласия": "consent",
}

_MOBILE = re.compile(r"(?:\+7|7|8)(9\d{9})")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_ALIAS = re.compile(r"[0-9A-Za-z]{4,40}")
_TRIM = str.maketrans("", "", " -()\u00a0\t")


class RowError(ValueError):
    """A bad cell: the reason (an English msgid) is shown with the row's line."""


def bad(at: int, reason: str, **values: int) -> dict[str, Any]:
    """A bad row as the job keeps it: the reason's msgid and its placeholders'
    values, so /admin can show it in the marketer's language."""
    entry: dict[str, Any] = {"line": at, "reason": reason}
    if values:
        entry["values"] = values
    return entry


def reason_text(entry: dict[str, Any], language: str | None = None) -> str:
    """A kept bad row's reason, in `language` (None: the English msgid)."""
    reason = str(entry.get("reason", ""))
    if language is not None:
        reason = text_in(language, reason)
    try:
        return reason.format(**dict(entry.get("values") or {}))
    except (KeyError, IndexError, ValueError):
        return reason


@dataclass(slots=True)
class Row:
    line: int
    phone: str
    name: str | None
    email: str | None
    birthday: date | None
    card: str | None
    balance: int | None
    tier: str | None
    consent_at: datetime | None


class Totals(NamedTuple):
    created: int
    updated: int
    unchanged: int


# -- reading the file -----------------------------------------------------------
def _key(header: str) -> str:
    return "".join(ch for ch in header.strip().lower() if ch not in " _-.\u00a0")


def read_header(raw: bytes) -> tuple[str, dict[str, Any]]:
    """(delimiter, column index -> field) from the header line; Invalid if the
    file cannot be imported at all."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise Invalid(
            "not_utf8",
            "The file is not UTF-8: save it from Excel as «CSV UTF-8».",
        ) from None
    delimiter = ";" if text.count(";") >= text.count(",") else ","
    try:
        cells = next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:  # e.g. a carriage return inside the header line
        cells = []
    columns: dict[str, Any] = {}
    for index, cell in enumerate(cells):
        field = HEADERS.get(_key(cell))
        if field is not None and field not in columns.values():
            columns[str(index)] = field
    if "phone" not in columns.values():
        raise Invalid(
            "no_phone_column",
            "The first line must name the columns, one of them the phone "
            "(phone, name, email, birthday, card, balance, tier, consent).",
        )
    return delimiter, columns


def read_records(
    stream: IO[bytes], line: int, limit: int
) -> tuple[list[tuple[int, bytes]], int]:
    """Up to `limit` records from the stream's position: ([(first line number,
    raw bytes)], the last line number read). A quoted cell may span lines
    (Excel writes them so); blank lines are skipped."""
    records: list[tuple[int, bytes]] = []
    while len(records) < limit:
        raw = stream.readline()
        if not raw:
            break
        line += 1
        first = line
        extra = 0
        # An odd number of quotes: the record goes on (a newline in a cell).
        while raw.count(b'"') % 2 and extra < MAX_RECORD_LINES:
            more = stream.readline()
            if not more:
                break
            raw += more
            line += 1
            extra += 1
        if raw.strip():
            records.append((first, raw))
    return records, line


# -- checking a row -------------------------------------------------------------
def parse_phone(text: str) -> str:
    compact = text.translate(_TRIM)
    found = _MOBILE.fullmatch(compact)
    if found:  # the common case, without phonenumbers' full parse
        return "+79" + found.group(1)[1:]
    try:
        number = phonenumbers.parse(text, "RU")
    except phonenumbers.NumberParseException:
        raise RowError(N_("phone: not a phone number")) from None
    if not phonenumbers.is_valid_number(number):
        raise RowError(N_("phone: not a valid phone number"))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_EARLIEST = date(1900, 1, 1)
BAD_DATE = {
    "birthday": N_("birthday: not a date (YYYY-MM-DD or DD.MM.YYYY)"),
    "consent": N_("consent: not a date (YYYY-MM-DD or DD.MM.YYYY)"),
}


def parse_date(text: str, what: str) -> date:
    text = text.strip().split(" ")[0].split("T")[0]
    try:
        if "." in text:
            day, month, year = text.split(".")
            return date(int(year), int(month), int(day))
        return date.fromisoformat(text)
    except ValueError:
        raise RowError(BAD_DATE[what]) from None


def tier_codes(program: Program) -> dict[str, str]:
    """Tier code or name (lower case, any language) -> code."""
    found: dict[str, str] = {}
    for tier in program.tiers:
        found[str(tier["code"]).lower()] = tier["code"]
        for name in dict(tier.get("name") or {}).values():
            found[str(name).lower()] = tier["code"]
    return found


def parse_row(
    line: int,
    cells: list[str],
    columns: dict[str, Any],
    tiers: dict[str, str],
    today: date | None = None,
) -> Row:
    """A checked row, or RowError with the first problem found."""
    today = today or date.today()
    values = dict.fromkeys(FIELDS, "")
    count = len(cells)
    for index, field in columns.items():
        position = int(index)
        if position < count:
            values[field] = cells[position].strip()
    if not values["phone"]:
        raise RowError(N_("phone: missing"))
    phone = parse_phone(values["phone"])
    name = " ".join(values["name"].split()) or None
    if name is not None and len(name) > 120:
        raise RowError(N_("name: longer than 120 characters"))
    email = values["email"] or None
    if email is not None:
        if len(email) > 254 or not _EMAIL.fullmatch(email):
            raise RowError(N_("email: not an e-mail address"))
        local, _, domain = email.rpartition("@")
        email = f"{local}@{domain.lower()}"
    birthday = None
    if values["birthday"]:
        birthday = parse_date(values["birthday"], "birthday")
        if not _EARLIEST <= birthday <= today:
            raise RowError(N_("birthday: out of range"))
    card = values["card"].translate(_TRIM) or None
    if card is not None and not _ALIAS.fullmatch(card):
        raise RowError(N_("card: 4 to 40 letters or digits"))
    balance = None
    if values["balance"]:
        compact = values["balance"].replace(" ", "").replace("\u00a0", "")
        if not (compact.isascii() and compact.isdigit()) or len(compact) > 9:
            raise RowError(N_("balance: a whole number of points, 0 or more"))
        balance = int(compact)
    tier = None
    if values["tier"]:
        tier = tiers.get(values["tier"].lower())
        if tier is None:
            raise RowError(N_("tier: unknown tier"))
    consent_at = None
    if values["consent"]:
        consent_day = parse_date(values["consent"], "consent")
        if consent_day > today:
            raise RowError(N_("consent: in the future"))
        consent_at = datetime(
            consent_day.year, consent_day.month, consent_day.day, tzinfo=UTC
        )
    return Row(line, phone, name, email, birthday, card, balance, tier, consent_at)


# -- applying a batch -----------------------------------------------------------
def in_strings(
    column: ColumnElement[str] | QueryableAttribute[str], values: Iterable[str]
) -> ColumnElement[bool]:
    """`column IN values` with the values bound as ONE parameter (like `in_ids`)."""
    items = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(
            bindparam(None, items, type_=postgresql.ARRAY(String), unique=True)
        )
    table = func.json_each(
        bindparam(None, json.dumps(items), type_=String, unique=True)
    ).table_valued("value")
    return column.in_(select(table.c.value))


_UPDATE_MEMBER = (
    update(Member.__table__)
    .where(Member.__table__.c.id == bindparam("b_id"))
    .values(
        name=bindparam("b_name"),
        email=bindparam("b_email"),
        birthday=bindparam("b_birthday"),
        tier=bindparam("b_tier"),
        consent_at=bindparam("b_consent_at"),
    )
)
_MOVE_POINTS = (
    update(Member.__table__)
    .where(Member.__table__.c.id == bindparam("b_id"))
    .values(points=Member.__table__.c.points + bindparam("b_delta"))
)


def _card_number() -> str:
    """`passes.new_card_number` with one random draw instead of one per digit
    (the same numbers: 11 digits, the first never 0, and the Luhn digit)."""
    body = str(secrets.randbelow(9 * 10**10) + 10**10)
    return body + passes.luhn_check_digit(body)


def _tokens(count: int, size: int) -> list[str]:
    """`count` of `secrets.token_urlsafe(size)` (size a multiple of 3: no
    padding) from one draw of the system's randomness."""
    width = size * 4 // 3
    text = base64.urlsafe_b64encode(os.urandom(size * count)).decode("ascii")
    return [text[i : i + width] for i in range(0, width * count, width)]


def _hex_tokens(count: int, size: int) -> list[str]:
    """`count` of `secrets.token_hex(size)` from one draw."""
    text = os.urandom(size * count).hex()
    return [text[i : i + 2 * size] for i in range(0, 2 * size * count, 2 * size)]


def _fresh_card_numbers(count: int) -> list[str]:
    """`count` new card numbers no member has (card numbers are unique overall)."""
    numbers: set[str] = set()
    while len(numbers) < count:
        wanted = {_card_number() for _ in range(count - len(numbers))}
        wanted -= numbers
        taken = set(
            db.session.scalars(
                select(Member.card_number).where(in_strings(Member.card_number, wanted))
            )
        )
        numbers |= wanted - taken
    return list(numbers)


def apply_batch(
    job: MemberImport, program: Program, rows: list[Row], errors: list[dict[str, Any]]
) -> Totals:
    """Create or update the batch's members (nothing written on a dry run); bad
    rows found against the database are appended to `errors`. Caller commits."""
    # The last row for a phone wins; earlier ones are reported.
    by_phone: dict[str, Row] = {}
    for row in rows:
        earlier = by_phone.get(row.phone)
        if earlier is not None:
            errors.append(
                bad(earlier.line, N_("phone: repeated on line {line}"), line=row.line)
            )
        by_phone[row.phone] = row
    existing = {
        found.phone: found
        for found in db.session.execute(
            select(
                Member.id,
                Member.phone,
                Member.name,
                Member.email,
                Member.birthday,
                Member.tier,
                Member.consent_at,
                Member.erased_at,
            ).where(Member.program_id == program.id, in_strings(Member.phone, by_phone))
        )
    }
    known_ids = [found.id for found in existing.values()]
    imported: dict[int, int] = (
        dict(
            (member_id, int(total or 0))
            for member_id, total in db.session.execute(
                select(LedgerEntry.member_id, func.sum(LedgerEntry.points))
                .where(
                    in_ids(LedgerEntry.member_id, known_ids),
                    LedgerEntry.kind == "import",
                )
                .group_by(LedgerEntry.member_id)
            )
        )
        if known_ids
        else {}
    )
    cards = {row.card for row in by_phone.values() if row.card}
    aliases: dict[str, int] = (
        dict(
            (number, member_id)
            for number, member_id in db.session.execute(
                select(CardAlias.number, CardAlias.member_id).where(
                    CardAlias.program_id == program.id,
                    in_strings(CardAlias.number, cards),
                )
            )
        )
        if cards
        else {}
    )

    new: list[Row] = []
    changed: list[dict[str, Any]] = []
    moves: list[tuple[int, int, int]] = []  # member id, delta, line
    new_aliases: list[tuple[int | None, Row]] = []
    unchanged = 0
    for row in by_phone.values():
        found = existing.get(row.phone)
        owner = aliases.get(row.card) if row.card else None
        if owner is not None and (found is None or owner != found.id):
            errors.append(bad(row.line, N_("card: belongs to another member")))
            continue
        if found is None:
            if row.consent_at is None:
                errors.append(bad(row.line, N_("consent: missing")))
                continue
            new.append(row)
            if row.card:
                new_aliases.append((None, row))
            continue
        if found.erased_at is not None:
            errors.append(bad(row.line, N_("phone: the member left")))
            continue
        values = {
            "b_id": found.id,
            "b_name": row.name or found.name,
            "b_email": row.email or found.email,
            "b_birthday": row.birthday or found.birthday,
            "b_tier": row.tier or found.tier,
            "b_consent_at": row.consent_at or found.consent_at,
        }
        differs = (
            values["b_name"] != found.name
            or values["b_email"] != found.email
            or values["b_birthday"] != found.birthday
            or values["b_tier"] != found.tier
            or values["b_consent_at"] != found.consent_at
        )
        delta = 0
        if row.balance is not None:
            delta = row.balance - int(imported.get(found.id) or 0)
        if row.card and owner is None:
            new_aliases.append((found.id, row))
            differs = True
        if differs:
            changed.append(values)
        if delta:
            moves.append((found.id, delta, row.line))
        if not differs and not delta:
            unchanged += 1
    updated_ids = {values["b_id"] for values in changed} | {m for m, _, _ in moves}
    totals = Totals(len(new), len(updated_ids), unchanged)
    if job.dry_run:
        return totals

    connection = db.session.connection()
    now = utcnow()
    new_ids: dict[str, int] = {}
    if new:
        numbers = _fresh_card_numbers(len(new))
        card_tokens = _tokens(len(new), 24)
        insert_rows(
            Member.__table__,
            [
                {
                    "program_id": program.id,
                    "card_number": number,
                    "card_token": token,
                    "name": row.name or "",
                    "phone": row.phone,
                    "email": row.email,
                    "birthday": row.birthday,
                    "language": "ru",
                    "consent_version": CONSENT_VERSION.format(job=job.id),
                    "consent_at": row.consent_at,
                    "points": row.balance or 0,
                    "tier": row.tier or program.base_tier,
                    "offer": "",
                    "created_at": now,
                }
                for number, token, row in zip(numbers, card_tokens, new, strict=True)
            ],
        )
        new_ids = dict(
            (phone, member_id)
            for phone, member_id in db.session.execute(
                select(Member.phone, Member.id).where(
                    Member.program_id == program.id,
                    in_strings(Member.phone, [row.phone for row in new]),
                )
            )
        )
        updated_at = now.replace(microsecond=0)
        insert_rows(
            Pass.__table__,
            [
                {
                    "program_id": program.id,
                    "member_id": new_ids[row.phone],
                    "serial_number": serial,
                    "authentication_token": token,
                    "update_tag": 0,
                    "content_hash": UNKNOWN_HASH,
                    "updated_at": updated_at,
                    "voided": False,
                    "created_at": now,
                }
                for row, serial, token in zip(
                    new,
                    _hex_tokens(len(new), 10),
                    _tokens(len(new), 24),
                    strict=True,
                )
            ],
        )
    entries = [
        (new_ids[row.phone], row.balance, row.line) for row in new if row.balance
    ] + moves
    if entries:
        insert_rows(
            LedgerEntry.__table__,
            [
                {
                    "program_id": program.id,
                    "member_id": member_id,
                    "kind": "import",
                    "points": points,
                    # One entry per job and line: a batch cannot post twice.
                    "idempotency_key": f"import:{job.id}:{line}",
                    "note": "",
                    "created_at": now,
                }
                for member_id, points, line in entries
            ],
        )
    if moves:
        connection.execute(
            _MOVE_POINTS, [{"b_id": m, "b_delta": delta} for m, delta, _ in moves]
        )
    if changed:
        connection.execute(_UPDATE_MEMBER, changed)
    if new_aliases:
        insert_rows(
            CardAlias.__table__,
            [
                {
                    "program_id": program.id,
                    "number": row.card,
                    "member_id": member_id
                    if member_id is not None
                    else new_ids[row.phone],
                    "created_at": now,
                }
                for member_id, row in new_aliases
            ],
        )
    if new:
        webhooks.emit_many(
            program.id,
            "member.created",
            (
                (
                    new_ids[row.phone],
                    {
                        "member_id": new_ids[row.phone],
                        "card_number": number,
                        "name": row.name or "",
                        "phone": row.phone,
                        "email": row.email,
                        "birthday": row.birthday.isoformat() if row.birthday else None,
                        "tier": row.tier or program.base_tier,
                        "balance": row.balance or 0,
                        "source": "import",
                    },
                )
                for number, row in zip(numbers, new, strict=True)
            ),
        )
    if updated_ids:
        webhooks.emit_many(
            program.id,
            "member.updated",
            (
                (
                    values["b_id"],
                    {
                        "member_id": values["b_id"],
                        "name": values["b_name"],
                        "email": values["b_email"],
                        "birthday": values["b_birthday"].isoformat()
                        if values["b_birthday"]
                        else None,
                        "tier": values["b_tier"],
                        "source": "import",
                    },
                )
                for values in changed
            ),
        )
        # Names, tiers and balances show on the pass: move the tags, queue pushes.
        move_changed_passes(program.id, sorted(updated_ids))
    return totals


# -- the job --------------------------------------------------------------------
def import_dir() -> Path:
    configured = current_app.config.get("IMPORT_DIR")
    folder = Path(configured) if configured else Path(current_app.instance_path)
    if not configured:
        folder = folder / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_upload(chunks: Iterable[bytes], limit: int) -> tuple[Path, int]:
    """Write an upload to the import folder, chunk by chunk (memory flat);
    (path, size). Invalid if empty; the caller bounds the size by `limit`."""
    path = import_dir() / f"{uuid.uuid4().hex}.csv"
    size = 0
    try:
        with path.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise Invalid("too_large", f"The file is over {limit} bytes.")
                out.write(chunk)
        if size == 0:
            raise Invalid("empty_file", "The file is empty.")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size


def create_job(
    program: Program,
    path: Path,
    *,
    dry_run: bool,
    invite: bool = False,
    filename: str = "",
    owned: bool = True,
    api_key_id: int | None = None,
) -> MemberImport:
    """A queued import of the file; the header is checked at once (Invalid:
    nothing queued). Caller commits."""
    with path.open("rb") as stream:
        delimiter, columns = read_header(stream.readline())
        offset = stream.tell()
    job = MemberImport(
        program_id=program.id,
        api_key_id=api_key_id,
        status=QUEUED,
        dry_run=dry_run,
        invite=invite and not dry_run,
        filename=filename[:200],
        path=str(path),
        owned=owned,
        size_bytes=path.stat().st_size,
        offset=offset,
        line=1,
        delimiter=delimiter,
        columns=columns,
        errors=[],
    )
    db.session.add(job)
    db.session.flush()
    return job


def parse_records(
    records: list[tuple[int, bytes]],
    delimiter: str,
    columns: dict[str, Any],
    tiers: dict[str, str],
    errors: list[dict[str, Any]],
) -> list[Row]:
    """The records' checked rows; bad ones go to `errors` (line and reason)."""
    lines: list[int] = []
    texts: list[str] = []
    for first, raw in records:
        try:
            texts.append(raw.decode("utf-8").rstrip("\r\n"))
            lines.append(first)
        except UnicodeDecodeError:
            errors.append(
                bad(first, N_("not UTF-8: save the file from Excel as «CSV UTF-8»"))
            )
    rows: list[Row] = []
    today = date.today()
    for line, text in zip(lines, texts, strict=True):
        try:
            # Each text is one whole record; a stray carriage return inside an
            # unquoted cell is a bad row, not a failed import.
            cells = next(csv.reader([text], delimiter=delimiter), [])
            rows.append(parse_row(line, cells, columns, tiers, today))
        except csv.Error:
            errors.append(bad(line, N_("a line break inside a cell without quotes")))
        except RowError as error:
            errors.append(bad(line, str(error)))
    return rows


def run_batch(job_id: int) -> bool:
    """Apply the job's next batch and commit it with the cursor; True when the
    job has nothing left (done, failed or gone)."""
    database.begin_write()
    # The row lock: one process applies a batch at a time; the cursor is re-read.
    job = db.session.scalar(
        select(MemberImport)
        .where(MemberImport.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if job is None or job.status in (DONE, FAILED):
        db.session.rollback()
        return True
    program = db.session.get(Program, job.program_id)
    assert program is not None
    now = utcnow()
    job.status = RUNNING
    job.updated_at = now
    try:
        stream = open(job.path, "rb")  # noqa: SIM115 (closed below)
    except OSError:
        job.status, job.message, job.finished_at = FAILED, "file missing", now
        db.session.commit()
        return True
    tiers = tier_codes(program)
    errors: list[dict[str, Any]] = []
    with stream:
        stream.seek(job.offset)
        records, end_line = read_records(stream, job.line, BATCH)
        offset = stream.tell()
    rows = parse_records(records, job.delimiter, job.columns, tiers, errors)
    totals = apply_batch(job, program, rows, errors) if rows else Totals(0, 0, 0)
    errors.sort(key=lambda e: e["line"])
    job.offset = offset
    job.line = end_line
    job.created += totals.created
    job.updated += totals.updated
    job.unchanged += totals.unchanged
    job.rows_ok += totals.created + totals.updated + totals.unchanged
    job.failed += len(errors)
    if errors and len(job.errors) < MAX_ERRORS:
        job.errors = [*job.errors, *errors][:MAX_ERRORS]
    finished = len(records) < BATCH
    if finished:
        job.status = DONE
        job.finished_at = now
    db.session.commit()
    if finished and job.owned:
        Path(job.path).unlink(missing_ok=True)
    return finished


def run(job_id: int, seconds: float | None = None) -> None:
    """Apply batches until the job is done (or `seconds` have passed)."""
    started = time.monotonic()
    while not run_batch(job_id):
        if seconds is not None and time.monotonic() - started > seconds:
            return


def pending() -> list[int]:
    return list(
        db.session.scalars(
            select(MemberImport.id)
            .where(MemberImport.status.in_((QUEUED, RUNNING)))
            .order_by(MemberImport.id)
        )
    )


@scheduled("member_imports")
def imports_job(now: datetime) -> None:
    """Go on with queued imports (the worker's scheduler), a time budget per run."""
    deadline = time.monotonic() + RUN_SECONDS
    for job_id in pending():
        db.session.rollback()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        run(job_id, left)


def run_invitations(job_id: int, now: datetime, seconds: float | None = None) -> None:
    """Queue the card link (SMS, and e-mail when known) for the members the import
    created, batch by batch with a member-id cursor, unless the program's quiet
    hours are on (the next run goes on). The hourly per-phone limit applies."""
    started = time.monotonic()
    while seconds is None or time.monotonic() - started < seconds:
        database.begin_write()
        job = db.session.scalar(
            select(MemberImport)
            .where(MemberImport.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if job is None or job.status != DONE or not job.invite or job.invite_done:
            db.session.rollback()
            return
        program = db.session.get(Program, job.program_id)
        assert program is not None
        if messaging.is_quiet(program, now):
            db.session.rollback()
            return
        members = list(
            db.session.scalars(
                select(Member)
                .where(
                    Member.program_id == program.id,
                    Member.id > job.invite_cursor,
                    Member.consent_version == CONSENT_VERSION.format(job=job.id),
                    Member.erased_at.is_(None),
                )
                .order_by(Member.id)
                .limit(INVITE_BATCH)
            )
        )
        for member in members:
            if outbound.send_card_link(member):
                job.invited += 1
        if members:
            job.invite_cursor = members[-1].id
        if len(members) < INVITE_BATCH:
            job.invite_done = True
        done = job.invite_done
        db.session.commit()
        if done:
            return


@scheduled("import_invitations")
def invitations_job(now: datetime) -> None:
    """Invite the members of finished imports that asked for it."""
    job_ids = list(
        db.session.scalars(
            select(MemberImport.id).where(
                MemberImport.status == DONE,
                MemberImport.invite.is_(True),
                MemberImport.invite_done.is_(False),
            )
        )
    )
    db.session.rollback()
    for job_id in job_ids:
        run_invitations(job_id, now, RUN_SECONDS)


def job_for(program: Program, job_id: int) -> MemberImport:
    job = db.session.get(MemberImport, job_id)
    if job is None or job.program_id != program.id:
        raise NotFound("unknown_import", "No such import.")
    return job


def recent(program: Program, limit: int = 20) -> list[MemberImport]:
    return list(
        db.session.scalars(
            select(MemberImport)
            .where(MemberImport.program_id == program.id)
            .order_by(MemberImport.id.desc())
            .limit(limit)
        )
    )


def view(job: MemberImport) -> dict[str, Any]:
    """What the API and /admin show of an import."""
    done = job.status in (DONE, FAILED)
    read = max(0, job.offset)
    percent = (
        100
        if done
        else (min(99, int(100 * read / job.size_bytes)) if job.size_bytes else 0)
    )
    return {
        "id": job.id,
        "status": job.status,
        "dry_run": job.dry_run,
        "filename": job.filename,
        "percent": percent,
        "lines_read": job.line,
        "rows_ok": job.rows_ok,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "failed": job.failed,
        "errors": [
            {"line": int(e.get("line", 0)), "reason": reason_text(e)}
            for e in job.errors
        ],
        "message": job.message,
        "invite": job.invite,
        "invited": job.invited,
        "invite_done": job.invite_done,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
