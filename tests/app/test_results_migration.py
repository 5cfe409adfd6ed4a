"""Migration 0020_results: campaigns that already began get no control group
(holdout 0), the others the default 10 %; down and up again (both databases)."""

from __future__ import annotations

from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app.extensions import db
from tests.conftest import Demo


def test_old_campaigns_had_no_control_group(app: Flask, demo: Demo) -> None:
    with app.app_context():
        db.session.remove()
        downgrade(revision="0019_offers")
        db.engine.dispose()
        assert "assignment" not in inspect(db.engine).get_table_names()
        with db.engine.begin() as connection:
            for state, started in (
                ("done", "2026-11-01 10:00:00"),
                ("cancelled", "2026-11-01 10:00:00"),
                ("cancelled", None),
                ("draft", None),
                ("scheduled", None),
            ):
                connection.execute(
                    text(
                        "INSERT INTO campaign (program_id, name, texts, segment, "
                        "state, cursor, created_by, created_at, started_at) VALUES "
                        "(:program, :state, '{}', '{}', :state, 0, '', "
                        "'2026-11-01 09:00:00', :started)"
                    ),
                    {"program": demo.program_id, "state": state, "started": started},
                )
        upgrade()
        db.engine.dispose()
        with db.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT state, started_at IS NOT NULL, holdout_percent, "
                    "attribution_days FROM campaign ORDER BY id"
                )
            ).all()
        assert [tuple(row) for row in rows] == [
            ("done", True, 0, 14),
            ("cancelled", True, 0, 14),
            ("cancelled", False, 10, 14),
            ("draft", False, 10, 14),
            ("scheduled", False, 10, 14),
        ]
        assert "assignment" in inspect(db.engine).get_table_names()
