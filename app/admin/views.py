"""/admin pages: thin views over the campaigns, segments, dashboard and audit
services. Signed in with a marketer/admin API key (see app.admin.session);
every form carries the CSRF token; the page scripts call /api/v1 with it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import or_, select

from app.admin import session as admin_session
from app.admin.texts import script_texts, texts
from app.extensions import db, limiter
from app.i18n import LANGUAGES, pick_language
from app.models import GoogleObject, LedgerEntry, Member, Program
from app.services import (
    audit,
    automations,
    campaigns,
    dashboard,
    kpi,
    kpi_snapshots,
    offers,
    results,
    wallet,
)
from app.services.auth import find_key
from app.services.errors import Invalid, NotFound
from app.services.masking import mask_phone
from app.services.passes import pass_for_member
from passes import pick

bp = Blueprint("admin", __name__)


def login_limit() -> str:
    return str(current_app.config["RATELIMIT_ADMIN_LOGIN"])


def _language() -> str:
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["admin_lang"] = chosen
    stored = session.get("admin_lang")
    # Also the request's locale (numbers, dates and plurals in the templates).
    return pick_language(stored if stored in LANGUAGES else None)


def _render(template: str, **context: Any) -> Response:
    language = _language()
    response = make_response(
        render_template(
            template,
            lang=language,
            t=texts(language),
            i18n=script_texts(language),
            key=g.get("admin_key"),
            **_program_context(),
            **context,
        )
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        api_key = admin_session.session_key()
        if api_key is None:
            return redirect(url_for("admin.login"))
        g.admin_key = api_key
        return view(*args, **kwargs)

    return wrapped


def _program() -> Program | None:
    """The program the pages work on (see admin_session.selected_program)."""
    if "admin_program" not in g:
        g.admin_program = admin_session.selected_program(g.admin_key)
    program: Program | None = g.admin_program
    return program


def _program_id() -> int | None:
    program = _program()
    return program.id if program is not None else None


def _program_context() -> dict[str, Any]:
    """The header's program selector, for keys that may work on every program."""
    api_key = g.get("admin_key")
    if api_key is None or api_key.program_id is not None:
        return {"programs": [], "program": None}
    return {"programs": admin_session.programs(api_key), "program": _program()}


@bp.post("/program")
@signed_in
def choose_program() -> Any:
    """The header's selector: the program an admin key works on."""
    chosen = request.form.get("program_id", type=int)
    if chosen is None or not admin_session.select_program(g.admin_key, chosen):
        return redirect(url_for("admin.overview"))
    target = request.form.get("next", "")
    # Only back to a page of the dashboard itself.
    if not target.startswith("/admin") or target.startswith("//"):
        target = url_for("admin.overview")
    return redirect(target)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def login() -> Any:
    error = False
    if request.method == "POST":
        api_key = find_key(request.form.get("key", "").strip())
        if api_key is not None and api_key.role in admin_session.ROLES:
            admin_session.sign_in(api_key)
            audit.record("admin.login", target=f"api_key:{api_key.prefix}", key=api_key)
            db.session.commit()
            return redirect(url_for("admin.overview"))
        error = True
    response = _render("admin/login.html", error=error)
    if error:
        response.status_code = 401
    return response


@bp.post("/logout")
def logout() -> Any:
    admin_session.sign_out()
    return redirect(url_for("admin.login"))


@bp.get("")
@bp.get("/")
@signed_in
def overview() -> Response:
    data = dashboard.series(_program_id())
    t = texts(_language())
    charts = [
        (
            t[f"chart.{name}"],
            dashboard.bar_chart(
                data[name], data["days"], t[f"chart.{name}"], top_text=t["chart.max"]
            ),
        )
        for name in data
        if name != "days"
    ]
    totals = dashboard.totals(_program_id())
    # The KPI overview (results, issue 16): the same figures as /api/v1/stats.
    program = _program()
    figures, heatmap, tiers, as_of = None, None, {}, None
    if program is not None:
        figures = kpi_snapshots.current(program)
        as_of = datetime.fromisoformat(figures["as_of"])
        heatmap = kpi.heatmap(figures["cohorts"], t["kpi.cohorts"])
        language = _language()
        tiers = {
            tier["code"]: program.tier_name(tier["code"], language)
            for tier in program.tiers
        }
    db.session.commit()
    return _render(
        "admin/overview.html",
        charts=charts,
        totals=totals,
        kpi=figures,
        kpi_as_of=as_of,
        heatmap=heatmap,
        tiers=tiers,
        current_program=program,
    )


@bp.get("/export.csv")
@signed_in
def export_csv() -> Response:
    data = dashboard.series(_program_id())
    db.session.commit()
    response = make_response(dashboard.to_csv(data))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = "attachment; filename=stats-30d.csv"
    return response


@bp.get("/segments")
@signed_in
def segments_page() -> Response:
    t = texts(_language())
    # The segment builder's labels (results, issue 16), read by its script.
    labels = {
        key.removeprefix("builder."): value
        for key, value in t.items()
        if key.startswith("builder.")
    }
    return _render(
        "admin/segments.html", builder_rules=BUILDER_RULES, builder_labels=labels
    )


BUILDER_RULES = (
    "all",
    "new",
    "active",
    "spend",
    "purchases",
    "avg_check",
    "points",
    "rfm",
    "reachable",
    "installed_never_scanned",
    "saved",
)


@bp.get("/campaigns")
@signed_in
def campaigns_page() -> Response:
    language = _language()
    t = texts(language)
    program = _program()
    now = datetime.now(UTC)
    rows = []
    for campaign in campaigns.listing(_program_id()):
        row = campaigns.as_json(campaign)
        owner = program
        if owner is None or owner.id != campaign.program_id:
            owner = db.session.get(Program, campaign.program_id)
        assert owner is not None
        look = campaigns.outlook(campaign, owner, now)
        row["audience"], row["reachable"] = look["audience"], look["reachable"]
        row["reason"] = (
            t[f"campaign.reason.{look['reason']}"].format(
                at=local_time(look["at"], owner.timezone, language, t, now)
                if look["at"]
                else ""
            )
            if look["reason"]
            else ""
        )
        row["start_text"] = (
            local_time(campaign.start_at, owner.timezone, language, t, now)
            if campaign.start_at
            else t["campaign.at_launch"]
        )
        rows.append(row)
    db.session.commit()
    zone = program.timezone if program is not None else "UTC"
    # Offers a new campaign may carry (issuable now): the form's choice.
    choices = [
        {"id": o.id, "title": pick(o.title, language)}
        for o in (offers.listing(program.id) if program is not None else [])
        if o.valid_until is None or o.valid_until > now
    ]
    db.session.commit()
    return _render(
        "admin/campaigns.html",
        campaigns=rows,
        offers=choices,
        timezone=zone,
        zone_label=zone_label(zone, language, t, now),
    )


def zone_label(zone: str, language: str, t: dict[str, str], now: datetime) -> str:
    """«МСК» for Moscow, else the offset from UTC («UTC+5», «UTC+5:30»)."""
    named = t.get(f"zone.{zone}")
    if named:
        return named
    offset = now.astimezone(ZoneInfo(zone)).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def local_time(
    moment: datetime, zone: str, language: str, t: dict[str, str], now: datetime
) -> str:
    """A moment in the program's time zone: «09:00 МСК» today, else «5 декабря,
    09:00 МСК»."""
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(zone))
    today = now.astimezone(ZoneInfo(zone)).date()
    pattern = "HH:mm" if local.date() == today else "d MMMM, HH:mm"
    text = format_datetime(local, pattern, tzinfo=ZoneInfo(zone), locale=language)
    return f"{text} {zone_label(zone, language, t, local)}"


@bp.get("/members")
@signed_in
def members_page() -> Response:
    query = request.args.get("q", "").strip()[:80]
    found: list[Member] = []
    if query:
        digits = "".join(ch for ch in query if ch.isdigit())
        conditions = [Member.name.ilike(f"%{query}%"), Member.card_number == query]
        if len(digits) >= 5:
            conditions.append(Member.phone.like(f"%{digits}"))
        stmt = (
            select(Member)
            .where(or_(*conditions), Member.erased_at.is_(None))
            .order_by(Member.id)
            .limit(20)
        )
        if _program_id() is not None:
            stmt = stmt.where(Member.program_id == _program_id())
        found = list(db.session.scalars(stmt))
    details = [_member_details(m) for m in found]
    db.session.commit()
    return _render("admin/members.html", query=query, members=details)


def _member_details(member: Member) -> dict[str, Any]:
    pass_ = pass_for_member(member)
    devices = wallet.pass_devices(pass_)
    google = db.session.scalar(
        select(GoogleObject).where(GoogleObject.member_id == member.id)
    )
    ledger = db.session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.member_id == member.id)
        .order_by(LedgerEntry.id.desc())
        .limit(20)
    ).all()
    return {
        "member": member,
        "phone": mask_phone(member.phone),
        "pass": pass_,
        "devices": devices,
        "google": google,
        "ledger": ledger,
    }


@bp.get("/audit")
@signed_in
def audit_page() -> Response:
    # An admin key's own entries (sign-ins) belong to no program.
    entries = audit.recent(
        _program_id(), 200, with_global=g.admin_key.program_id is None
    )
    rows = [
        {
            "role": e.role,
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "details": json.dumps(e.details, ensure_ascii=False)[:300],
            "when": e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        }
        for e in entries
    ]
    db.session.commit()
    return _render("admin/audit.html", entries=rows)


# -- results (issue 16) ------------------------------------------------------------
def _results_chart(population: results.Population, t: dict[str, str]) -> Any:
    series = results.daily(population)
    return results.line_chart(
        series,
        t["results.chart"],
        {"treatment": t["results.treatment"], "control": t["results.control"]},
    )


@bp.get("/campaigns/<int:campaign_id>/results")
@signed_in
def campaign_results_page(campaign_id: int) -> Response:
    """The campaign's results panel: groups, uplifts with their intervals,
    incremental revenue, ROMI and the chart over the window."""
    campaign = campaigns.get(_program_id(), campaign_id)
    t = texts(_language())
    body = results.campaign_results(campaign)
    chart = _results_chart(results.campaign_population(campaign), t)
    db.session.commit()
    return _render(
        "admin/results.html",
        heading=t["results.campaign"].format(name=campaign.name or f"#{campaign.id}"),
        results=body,
        chart=chart,
        csv_url=url_for("marketer_api.campaign_results_csv", campaign_id=campaign.id),
        period=None,
    )


@bp.get("/automations/<name>/results")
@signed_in
def automation_results_page(name: str) -> Response:
    """An automation's results over ?from=&to= (local dates; default 30 days)."""
    program = _program()
    if program is None or name not in automations.NAMES:
        raise NotFound("not_found", "No such automation.")
    t = texts(_language())
    try:
        start, end = results.parse_period(
            program, request.args.get("from"), request.args.get("to")
        )
    except Invalid:
        start, end = results.parse_period(program, None, None)
    conf = automations.configured(program, name)
    days = int(conf["attribution_days"])
    body = results.automation_results(
        program, name, start, end, int(conf["holdout_percent"]), days
    )
    chart = _results_chart(
        results.automation_population(program, name, start, end, days), t
    )
    db.session.commit()
    zone = ZoneInfo(program.timezone)
    period = {
        "from": start.astimezone(zone).date().isoformat(),
        "to": (end.astimezone(zone) - timedelta(days=1)).date().isoformat(),
    }
    return _render(
        "admin/results.html",
        heading=t["results.automation"].format(name=t[f"auto.{name}"]),
        results=body,
        chart=chart,
        csv_url=url_for("marketer_api.automation_results_csv", name=name)
        + "?"
        + urlencode(period),
        period=period,
    )
