"""Marketer API for bringing the existing base in and connecting the shop:
member import (CSV) and signed webhooks (app.services.webhooks).

`POST /api/v1/members/import[?dry_run=1]` (bearer key, or the /admin session with
X-CSRFToken) takes the CSV as the body (text/csv)
or as the `file` field of a multipart form. Small files (up to INLINE_BYTES) are
imported in the request: 201 with the finished report. Larger ones are stored
under the import folder and queued for the worker's `member_imports` job: 202
with the job, whose progress `GET /api/v1/members/imports/<id>` shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from app import database
from app.api.auth import marketer_key, program_for
from app.bodies import streams_body
from app.extensions import db
from app.models import ApiKey
from app.services import audit, imports, webhooks
from app.services.errors import Malformed

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
@streams_body  # a CSV of up to IMPORT_MAX_BYTES, streamed to disk
def import_members() -> Response:
    key_id = current_key().id
    program_for(current_key())  # 403 before reading the body
    dry_run = _flag("dry_run")
    invite = _flag("invite")
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
            invite=invite,
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


# -- webhooks ----------------------------------------------------------------------
def _json() -> Any:
    try:
        return json.loads(request.get_data(cache=False) or b"null")
    except ValueError:
        raise Malformed("invalid_json", "The body is not valid JSON.") from None


@bp.post("/webhooks")
def create_webhook() -> Response:
    body = _json()
    program = program_for(current_key(), body)
    created = webhooks.create(program.id, body, current_key().id)
    audit.record(
        "webhook.create",
        target=f"webhook:{created.endpoint.id}",
        key=current_key(),
        details={"events": created.endpoint.events},
    )
    answer = webhooks.view(created.endpoint, created.secret)
    db.session.commit()
    response = jsonify(answer)
    response.status_code = 201
    return response


@bp.get("/webhooks")
def list_webhooks() -> Response:
    program = program_for(current_key())
    body = [webhooks.view(e) for e in webhooks.endpoints(program.id)]
    db.session.commit()
    return jsonify({"webhooks": body, "events": list(webhooks.EVENTS)})


@bp.delete("/webhooks/<int:endpoint_id>")
def delete_webhook(endpoint_id: int) -> Response:
    program = program_for(current_key())
    endpoint = webhooks.endpoint_for(program.id, endpoint_id)
    webhooks.remove(endpoint)
    audit.record("webhook.delete", target=f"webhook:{endpoint_id}", key=current_key())
    db.session.commit()
    return jsonify({"id": endpoint_id, "deleted": True})


@bp.post("/webhooks/<int:endpoint_id>/enable")
def enable_webhook(endpoint_id: int) -> Response:
    program = program_for(current_key())
    endpoint = webhooks.endpoint_for(program.id, endpoint_id)
    webhooks.enable(endpoint)
    audit.record("webhook.enable", target=f"webhook:{endpoint_id}", key=current_key())
    body = webhooks.view(endpoint)
    db.session.commit()
    return jsonify(body)


@bp.get("/webhooks/deliveries")
def list_deliveries() -> Response:
    program = program_for(current_key())
    body = [webhooks.delivery_view(d) for d in webhooks.recent_deliveries(program.id)]
    db.session.commit()
    return jsonify({"deliveries": body})


@bp.post("/webhooks/deliveries/<int:delivery_id>/resend")
def resend_delivery(delivery_id: int) -> Response:
    program = program_for(current_key())
    delivery = webhooks.delivery_for(program.id, delivery_id)
    webhooks.resend(delivery)
    audit.record(
        "webhook.resend", target=f"webhook_delivery:{delivery_id}", key=current_key()
    )
    body = webhooks.delivery_view(delivery)
    db.session.commit()
    return jsonify(body)
