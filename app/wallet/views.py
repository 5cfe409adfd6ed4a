"""Thin views over app.services.wallet; each commits once on success."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from app.bodies import read_json
from app.extensions import db, limiter
from app.security import (
    HERD_ENDPOINTS,
    check_herd_limits,
    wallet_address_limit,
    wallet_client_key,
    wallet_limit,
    wallet_log_limit,
)
from app.services import pass_cache, wallet

bp = Blueprint("wallet", __name__)
limiter.limit(wallet_limit, key_func=wallet_client_key)(bp)
limiter.limit(wallet_address_limit)(bp)
log = logging.getLogger(__name__)


@bp.before_request
def count_herd_gets() -> None:
    """The same two limits, counted without flask-limiter's generic path for
    the herd's GETs (see `check_herd_limits`)."""
    if request.endpoint in HERD_ENDPOINTS:
        check_herd_limits()


PKPASS_MIMETYPE = "application/vnd.apple.pkpass"


def _json_body() -> object:
    # Whatever the Content-Type: some Android pass apps send none.
    return read_json("bad_json", "Request body must be a JSON object")


@bp.post("/v1/devices/<device_id>/registrations/<pass_type>/<serial>")
def register_device(device_id: str, pass_type: str, serial: str) -> Response:
    """Register a device to receive push notifications for a pass."""
    pass_, platform = wallet.authenticate(
        pass_type, serial, request.headers.get("Authorization")
    )
    wallet.check_device_identifier(device_id)
    push_token = wallet.parse_push_token(_json_body())
    created = wallet.register(device_id, pass_, push_token, platform)
    db.session.commit()
    return Response(status=201 if created else 200)


@bp.get("/v1/devices/<device_id>/registrations/<pass_type>")
def list_changed_serials(device_id: str, pass_type: str) -> Response:
    """Serial numbers of the device's passes updated since a tag (204 when none)."""
    wallet.check_device_identifier(device_id)
    since = wallet.parse_tag(request.args.get("passesUpdatedSince"))
    result = wallet.changed_serials(device_id, pass_type, since)
    if result is None:
        return Response(status=204)
    serials, last_tag = result
    return jsonify({"serialNumbers": serials, "lastUpdated": str(last_tag)})


@bp.get("/v1/passes/<pass_type>/<serial>")
def latest_pass(pass_type: str, serial: str) -> Response:
    """The latest version of a pass; 304 when unchanged since If-Modified-Since."""
    credentials = wallet.parse_authorization(request.headers.get("Authorization"))
    # The pass and its signed bytes in one statement (the herd after a campaign).
    found = pass_cache.download(pass_type, serial, credentials.token)
    if found is None:
        raise wallet.unauthorized()
    modified = found.modified
    since = request.if_modified_since
    if since is not None and modified <= since:
        response = Response(status=304)
    elif found.data is not None:
        response = Response(found.data, mimetype=PKPASS_MIMETYPE)
    else:
        data, modified = pass_cache.sign_missed(found)
        response = Response(data, mimetype=PKPASS_MIMETYPE)
    response.last_modified = modified
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.delete("/v1/devices/<device_id>/registrations/<pass_type>/<serial>")
def unregister_device(device_id: str, pass_type: str, serial: str) -> Response:
    """Stop sending updates for a pass to a device."""
    pass_, _ = wallet.authenticate(
        pass_type, serial, request.headers.get("Authorization")
    )
    wallet.check_device_identifier(device_id)
    wallet.unregister(device_id, pass_)
    db.session.commit()
    return Response(status=200)


@bp.post("/v1/log")
@limiter.limit(wallet_log_limit)
def device_log() -> Response:
    """Errors reported by devices; stored (for LOG_KEEP_DAYS) for debugging."""
    # The body is bounded before it is parsed (and the guard has read it already).
    wallet.check_log_size(len(request.get_data(cache=True)))
    body = _json_body()
    count = wallet.record_logs(body, request.remote_addr)
    db.session.commit()
    log.info("stored %d device log entries", count)
    return Response(status=200)
