"""/admin/imports: upload a member CSV (or check it), follow its progress and
read the report. The page's script (static/admin-imports.js) sends the file to
`POST /api/v1/members/import` with the session and CSRF token; while an import
runs the page reloads itself every few seconds."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from app.admin.imports_texts import texts as import_texts
from app.admin.views import _language, _program, _render, bp, signed_in
from app.extensions import db
from app.models.imports import DONE, FAILED
from app.services import imports


@bp.get("/imports")
@signed_in
def imports_page() -> Response:
    program = _program()
    language = _language()
    jobs: list[dict[str, Any]] = []
    chosen: dict[str, Any] | None = None
    running = False
    if program is not None:
        wanted = request.args.get("job", type=int)
        for job in imports.recent(program):
            view = imports.view(job)
            running = running or job.status not in (DONE, FAILED)
            jobs.append(view)
            if job.id == wanted or (wanted is None and chosen is None):
                chosen = {
                    **view,
                    "errors": [
                        {
                            "line": e.get("line"),
                            "reason": imports.reason_text(e, language),
                        }
                        for e in job.errors
                    ],
                }
    db.session.commit()
    return _render(
        "admin/imports.html",
        m=import_texts(language),
        has_program=program is not None,
        jobs=jobs,
        chosen=chosen,
        running=running,
    )
