"""Figures for /admin: per-day series for the last N days, and their SVG charts.

Charts are drawn here as inline SVG (no chart library, no script): a bar chart
per series, with a <title> per bar so hovering shows the day and the value.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from markupsafe import Markup
from sqlalchemy import func, select

from app.extensions import db
from app.models import Member
from app.services import stats

DAYS = 30


def _days(days: int, today: date) -> list[date]:
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def series(
    program_id: int | None, days: int = DAYS, today: date | None = None
) -> dict[str, Any]:
    """{"days": [...], "signups": [...], "installs_apple": [...], ...}: the
    figures of `app.services.stats` (the same as /api/v1/stats)."""
    today = today or datetime.now(UTC).date()
    since = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), UTC)
    raw = {
        "signups": stats.signups(program_id, since),
        "installs_apple": stats.wallet_events(program_id, "apple", "install", since),
        "installs_android": stats.wallet_events(
            program_id, "android", "install", since
        ),
        "installs_google": stats.google_events(program_id, "save", since),
        "pushes_sent": stats.pushes_sent(program_id, since),
        "pushes_failed": stats.pushes_failed(program_id, since),
        "redemptions": stats.redemptions(program_id, since),
    }
    keys = [d.isoformat() for d in _days(days, today)]
    return {
        "days": keys,
        **{name: [values.get(k, 0) for k in keys] for name, values in raw.items()},
    }


def totals(program_id: int | None) -> dict[str, int]:
    scope = [Member.program_id == program_id] if program_id else []
    members = db.session.scalar(
        select(func.count())
        .select_from(Member)
        .where(Member.erased_at.is_(None), *scope)
    )
    return {"members": int(members or 0)}


def to_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    names = [k for k in data if k != "days"]
    writer = csv.writer(out)
    writer.writerow(["day", *names])
    for i, day in enumerate(data["days"]):
        writer.writerow([day, *(data[n][i] for n in names)])
    return out.getvalue()


_BAR = Markup(
    '<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
    'fill="{colour}"><title>{day}: {value}</title></rect>'
)
_CHART = Markup(
    '<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
    'aria-label="{label}" xmlns="http://www.w3.org/2000/svg">'
    '<line x1="{pad}" y1="{base}" x2="{right}" y2="{base}" stroke="#999"/>{bars}'
    '<text x="{pad}" y="{bottom}" font-size="11">{first}</text>'
    '<text x="{right}" y="{bottom}" font-size="11" text-anchor="end">{last}</text>'
    '<text x="{pad}" y="12" font-size="11">{top}</text></svg>'
)


def bar_chart(
    values: list[int],
    days: list[str],
    label: str,
    colour: str = "#3b6fd6",
    top_text: str = "max {top}",
) -> Markup:
    """An accessible SVG bar chart (width 100%, viewBox scaled); Markup.format
    escapes every value put into it. `top_text` labels the top of the scale in
    the page's language."""
    width, height, pad = 600, 140, 18
    top = max(values) if values and max(values) > 0 else 1
    step = (width - 2 * pad) / max(len(values), 1)
    bars = Markup("").join(
        _BAR.format(
            x=pad + i * step,
            y=height - pad - (height - 2 * pad) * value / top,
            w=max(step - 2, 1),
            h=(height - 2 * pad) * value / top,
            colour=colour,
            day=day,
            value=value,
        )
        for i, (value, day) in enumerate(zip(values, days, strict=True))
    )
    return _CHART.format(
        width=width,
        height=height,
        label=label,
        pad=pad,
        base=height - pad,
        right=width - pad,
        bottom=height - 3,
        bars=bars,
        first=days[0][5:] if days else "",
        last=days[-1][5:] if days else "",
        top=top_text.format(top=top),
    )
