"""/admin/settings: the program's brand, colours, images, earn rules and tiers,
with a live pass preview. The page's script (static/admin-settings.js) reads and
changes everything through /api/v1/program with the session and CSRF token."""

from __future__ import annotations

from decimal import Decimal

from flask import Response, g, request
from sqlalchemy import select

from app.admin.settings_texts import texts as settings_texts
from app.admin.views import _language, _render, bp, signed_in
from app.extensions import db
from app.models import Program
from app.services import settings


def _programs() -> list[Program]:
    key = g.admin_key
    if key.program is not None:
        return [key.program]
    return list(db.session.scalars(select(Program).order_by(Program.id)))


@bp.get("/settings")
@signed_in
def settings_page() -> Response:
    programs = _programs()
    chosen = request.args.get("program_id", type=int)
    program = next((p for p in programs if p.id == chosen), None)
    if program is None and len(programs) == 1:
        program = programs[0]
    view = settings.view(program) if program is not None else None
    if view is not None:
        # The form shows the redeem cap in percent (the API keeps a share).
        share = Decimal(view["rules"]["max_redeem_share"]) * 100
        view["rules"]["max_redeem_percent"] = format(share.normalize(), "f")
    db.session.commit()
    return _render(
        "admin/settings.html",
        s=settings_texts(_language()),
        programs=programs,
        program=view,
    )
