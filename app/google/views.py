"""`POST /google/callbacks`: Google tells us a holder saved or deleted an object."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request

from app.bodies import read_json
from app.extensions import db, limiter
from app.security import google_callback_limit
from app.services import google_wallet
from app.services.errors import Malformed, Unavailable
from passes.google_callback import CallbackError

bp = Blueprint("google", __name__)


@bp.post("/callbacks")
@limiter.limit(google_callback_limit)
def callbacks() -> Response:
    """Verify the signed callback, record it once per nonce; 200 for duplicates too."""
    if not google_wallet.enabled():
        abort(404)
    # Cheap refusals first: size, then JSON, then the shape checks of `verify`.
    google_wallet.check_callback_size(len(request.get_data(cache=True)))
    try:
        body = read_json("invalid_callback", "Callback did not verify")
    except Malformed as error:
        current_app.logger.warning("rejected Google callback: %s", error.code)
        raise
    try:
        message = google_wallet.verify(body)
    except CallbackError as error:
        current_app.logger.warning("rejected Google callback: %s", error)
        raise Malformed("invalid_callback", "Callback did not verify") from error
    except google_wallet.GoogleRetryableError as error:
        # Without Google's keys nothing can be verified; Google retries on 5xx.
        current_app.logger.error("%s", error)
        raise Unavailable("keys_unavailable", "Try again later") from error
    recorded = google_wallet.record_callback(message)
    db.session.commit()
    return jsonify({"status": "recorded" if recorded else "duplicate"})
