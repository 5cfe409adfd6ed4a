"""`/healthz` (the process answers), `/readyz` (it can do its work), `/metrics`."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.extensions import limiter
from app.ops.metrics import metrics_response
from app.services.health import readiness

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    """Liveness: no dependencies checked, so a slow database never restarts us."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@limiter.exempt
def readyz() -> tuple[Response, int]:
    """Readiness: database reachable and migrated, pass signing files usable."""
    checks = readiness()
    ready = all(check["ok"] for check in checks.values())
    return jsonify({"status": "ready" if ready else "not_ready", "checks": checks}), (
        200 if ready else 503
    )


@bp.get("/metrics")
@limiter.exempt
def metrics() -> Response:
    """Prometheus text format; Bearer METRICS_TOKEN required when that is set."""
    return metrics_response(request.headers.get("Authorization"))
