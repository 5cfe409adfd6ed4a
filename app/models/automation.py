"""Automations: each program's settings per automation and their run history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class Automation(Base):
    """One automation of one program: on/off, its settings and its last run."""

    __tablename__ = "automation"
    __table_args__ = (UniqueConstraint("program_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    name: Mapped[str] = mapped_column(String(30))
    enabled: Mapped[bool] = mapped_column(default=False)
    # Texts {"ru", "en"} and parameters; missing keys fall back to the defaults.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_run_at: Mapped[datetime | None]
    # {"date": "2026-11-25", "sent": 3, "waiting": false} of the last run.
    last_result: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AutomationRun(Base):
    """A completed run of an automation (history for the dashboard). Scheduled
    runs of one local date are folded into one row (`runs` counts them: welcome
    runs every scheduler tick); each manual run gets its own row."""

    __tablename__ = "automation_run"
    __table_args__ = (Index("ix_automation_run_automation_id", "automation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automation.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    trigger: Mapped[str] = mapped_column(String(10))  # scheduler, manual
    # The program-local date the run was for.
    for_date: Mapped[date]
    # Members messaged.
    sent: Mapped[int] = mapped_column(default=0)
    runs: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Why the run failed (the exception's type: no personal data); None when it
    # completed. Failed scheduled runs of one date and error fold into one row.
    error: Mapped[str | None] = mapped_column(String(200))
