"""/admin/webhooks: the program's webhook endpoints (add one: its secret is shown
once; enable a disabled one; delete), a banner for endpoints the service
disabled after a day of failures, and the delivery log with resend."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for
from werkzeug.wrappers import Response

from app.admin.views import _language, _program, _render, bp, signed_in
from app.admin.webhooks_texts import texts as webhook_texts
from app.extensions import db
from app.services import audit, webhooks
from app.services.errors import DomainError


def _page(created: dict[str, Any] | None = None, error: str | None = None) -> Response:
    program = _program()
    hooks: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    if program is not None:
        hooks = [webhooks.view(e) for e in webhooks.endpoints(program.id)]
        deliveries = [
            webhooks.delivery_view(d) for d in webhooks.recent_deliveries(program.id)
        ]
    db.session.commit()
    return _render(
        "admin/webhooks.html",
        w=webhook_texts(_language()),
        has_program=program is not None,
        hooks=hooks,
        deliveries=deliveries,
        events=webhooks.EVENTS,
        created=created,
        error=error,
    )


@bp.get("/webhooks")
@signed_in
def webhooks_page() -> Response:
    return _page()


@bp.post("/webhooks")
@signed_in
def add_webhook() -> Response:
    program = _program()
    if program is None:
        return redirect(url_for("admin.webhooks_page"))
    body = {
        "url": request.form.get("url", "").strip(),
        "events": [e for e in request.form.getlist("events") if e],
    }
    try:
        made = webhooks.create(program.id, body, g.admin_key.id)
    except DomainError as error:
        db.session.rollback()
        return _page(error=error.code)
    audit.record(
        "webhook.create",
        target=f"webhook:{made.endpoint.id}",
        program_id=program.id,
        key=g.admin_key,
        details={"events": made.endpoint.events},
    )
    created = webhooks.view(made.endpoint, made.secret)
    db.session.commit()
    return _page(created=created)


def _endpoint_action(endpoint_id: int, action: str) -> Response:
    program = _program()
    if program is not None:
        try:
            endpoint = webhooks.endpoint_for(program.id, endpoint_id)
        except DomainError:
            return redirect(url_for("admin.webhooks_page"))
        if action == "delete":
            webhooks.remove(endpoint)
        else:
            webhooks.enable(endpoint)
        audit.record(
            f"webhook.{action}",
            target=f"webhook:{endpoint_id}",
            program_id=program.id,
            key=g.admin_key,
        )
        db.session.commit()
        flash(webhook_texts(_language())["saved"])
    return redirect(url_for("admin.webhooks_page"))


@bp.post("/webhooks/<int:endpoint_id>/enable")
@signed_in
def enable_webhook(endpoint_id: int) -> Response:
    return _endpoint_action(endpoint_id, "enable")


@bp.post("/webhooks/<int:endpoint_id>/delete")
@signed_in
def delete_webhook(endpoint_id: int) -> Response:
    return _endpoint_action(endpoint_id, "delete")


@bp.post("/webhooks/deliveries/<int:delivery_id>/resend")
@signed_in
def resend_delivery(delivery_id: int) -> Response:
    program = _program()
    if program is not None:
        try:
            delivery = webhooks.delivery_for(program.id, delivery_id)
        except DomainError:
            return redirect(url_for("admin.webhooks_page"))
        webhooks.resend(delivery)
        audit.record(
            "webhook.resend",
            target=f"webhook_delivery:{delivery_id}",
            program_id=program.id,
            key=g.admin_key,
        )
        db.session.commit()
        flash(webhook_texts(_language())["resent"])
    return redirect(url_for("admin.webhooks_page"))
