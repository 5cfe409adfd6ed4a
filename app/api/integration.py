"""Marketer API for bringing the existing base in: member import (CSV).

`POST /api/v1/members/import[?dry_run=1]` (bearer key, or the /admin session with
X-CSRFToken) takes the CSV as the body (text/csv)
or as the `file` field of a multipart form. Small files (up to INLINE_BYTES) are
imported in the request: 201 with the finished report. Larger ones are stored
under the import folder and queued for the worker's `member_imports` job: 202
with the job, whose progress `GET /api/v1/members/imports/<id>` shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from flask import Blueprint, Response, current_app, g, jsonify, request

from app import database
from app.api.auth import marketer_key, program_for
from app.extensions import db
from app.models import ApiKey
from app.services import audit, imports

bp = Blueprint("integration_api", __name__)

# Imported in the request up to this size (about 5,000 rows); larger: the worker.
INLINE_BYTES = 512 * 1024
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
CHUNK = 256 * 1024


def max_bytes() -> int:
    return int(current_app.config.get("IMPORT_MAX_BYTES") or DEFAULT_MAX_BYTES)


@bp.before_request
def authenticate_request() -> None:
    if request.endpoint == "integration_api.import_members":
        request.max_content_length = max_bytes()
    # A bearer key (marketer/admin), or the /admin session with X-CSRFToken.
    g.api_key = marketer_key()


def current_key() -> ApiKey:
    key: ApiKey = g.api_key  # set by the blueprint's before_request
    return key


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes", "on")


@bp.post("/members/import")
def import_members() -> Response:
    key_id = current_key().id
    program_for(current_key())  # 403 before reading the body
    dry_run = _flag("dry_run")
    upload = request.files.get("file")
    stream = upload.stream if upload is not None else request.stream
    filename = (upload.filename or "") if upload is not None else ""
    # Writing the upload to disk takes a while: not under the SQLite write lock.
    db.session.rollback()
    path, size = imports.store_upload(_chunks(stream), max_bytes())
    database.begin_write()
    program = program_for(current_key())
    try:
        job = imports.create_job(
            program,
            path,
            dry_run=dry_run,
            filename=filename,
            api_key_id=key_id,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    audit.record(
        "members.import",
        target=f"import:{job.id}",
        key=current_key(),
        details={"dry_run": dry_run, "bytes": size},
    )
    db.session.commit()
    job_id = job.id
    if size <= INLINE_BYTES:
        imports.run(job_id)
    job = imports.job_for(program_for(current_key()), job_id)
    body = imports.view(job)
    db.session.commit()
    response = jsonify(body)
    response.status_code = 201 if body["status"] == "done" else 202
    response.headers["Location"] = f"/api/v1/members/imports/{job_id}"
    return response


@bp.get("/members/imports")
def list_imports() -> Response:
    body = [imports.view(job) for job in imports.recent(program_for(current_key()))]
    db.session.commit()
    return jsonify({"imports": body})


@bp.get("/members/imports/<int:import_id>")
def get_import(import_id: int) -> Response:
    body = imports.view(imports.job_for(program_for(current_key()), import_id))
    db.session.commit()
    return jsonify(body)
