"""/admin/settings: the program's brand, colours, images, earn rules and tiers,
with a live pass preview. The page's script (static/admin-settings.js) reads and
changes everything through /api/v1/program with the session and CSRF token."""

from __future__ import annotations

from decimal import Decimal

from flask import Response

from app.admin.settings_texts import texts as settings_texts
from app.admin.views import _language, _program, _render, bp, signed_in
from app.extensions import db
from app.services import settings
from passes.images import MAX_SIDE, MAX_UPLOAD_BYTES


@bp.get("/settings")
@signed_in
def settings_page() -> Response:
    # The program is the one chosen in the header (admin keys) or the key's own.
    program = _program()
    view = settings.view(program) if program is not None else None
    if view is not None:
        # The form shows the redeem cap in percent (the API keeps a share).
        share = Decimal(view["rules"]["max_redeem_share"]) * 100
        view["rules"]["max_redeem_percent"] = format(share.normalize(), "f")
    db.session.commit()
    return _render(
        "admin/settings.html",
        s=settings_texts(_language()),
        cfg=view,
        # The page checks a chosen image against the server's own limits.
        limits={"max_bytes": MAX_UPLOAD_BYTES, "max_side": MAX_SIDE},
    )
