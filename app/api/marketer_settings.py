"""Program settings API (/api/v1/program): read and change brand, colours, images,
earn rules, tiers, time zone and quiet hours; preview a pass with unsaved
settings; follow the pass refresh a change queued. Bearer key with role
marketer or admin, or the /admin session with its CSRF token (like
app.api.marketer); an all-programs admin key names one with program_id."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from app.api.auth import marketer_key, program_for
from app.api.body import json_body
from app.extensions import db
from app.i18n import LANGUAGES
from app.models import ApiKey, PassRefresh, Program
from app.services import settings, stores
from app.services.errors import Invalid, NotFound
from passes.images import MAX_UPLOAD_BYTES

bp = Blueprint("settings_api", __name__)
# Room for the image and the multipart envelope (the app's default limit is small).
UPLOAD_LIMIT = MAX_UPLOAD_BYTES + 64 * 1024


@bp.before_request
def authenticate_request() -> None:
    if request.endpoint == "settings_api.upload_image":
        request.max_content_length = UPLOAD_LIMIT
    g.api_key = marketer_key()


def _key() -> ApiKey:
    key: ApiKey = g.api_key  # set by the blueprint's before_request
    return key


def _program(body: Any = None, lock: bool = False) -> Program:
    return program_for(_key(), body, lock=lock)


@bp.get("/program")
def get_program() -> Response:
    body = settings.view(_program())
    db.session.commit()
    return jsonify(body)


@bp.patch("/program")
def patch_program() -> Response:
    body = json_body()
    program = _program(body, lock=True)
    result = settings.apply(program, body, _key())
    db.session.commit()
    return jsonify(result)


@bp.post("/program/preview")
def preview_program() -> Response:
    """The pass front with unsaved settings; nothing is stored."""
    body = json_body()
    language = request.args.get("lang", "ru")
    if language not in LANGUAGES:
        language = "ru"
    program = _program(body)
    result = settings.preview(program, body, language)
    db.session.rollback()
    return jsonify(result)


@bp.post("/program/images/<kind>")
def upload_image(kind: str) -> Response:
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("file_required", "Send the image as multipart form field 'file'.")
    try:
        data = upload.read(MAX_UPLOAD_BYTES + 1)
    finally:
        upload.close()  # a large upload is spooled to a temporary file
    program = _program(lock=True)
    result = settings.upload_image(program, kind, data, _key())
    db.session.commit()
    return jsonify(result)


@bp.delete("/program/images/<kind>")
def remove_image(kind: str) -> Response:
    program = _program(lock=True)
    result = settings.remove_image(program, kind, _key())
    db.session.commit()
    return jsonify(result)


@bp.get("/program/refreshes/<int:refresh_id>")
def get_refresh(refresh_id: int) -> Response:
    """Progress of the pass refresh a settings (or store) change queued."""
    program = _program()
    refresh = db.session.get(PassRefresh, refresh_id)
    if refresh is None or refresh.program_id != program.id:
        raise NotFound("unknown_refresh", "No such refresh.")
    body = stores.refresh_view(refresh)
    db.session.commit()
    return jsonify(body)
