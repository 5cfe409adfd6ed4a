"""Migration 0038_tags moves each program's update-tag counter out of the
program row into program_tag, with its value, and back on the way down."""

from __future__ import annotations

from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app.extensions import db
from app.services.passes import last_update_tag, next_update_tag
from tests.conftest import Demo


def test_down_and_up_keeps_each_programs_last_tag(app: Flask, demo: Demo) -> None:
    with app.app_context():
        next_update_tag(demo.program_id, 41)
        db.session.commit()
        last = last_update_tag(demo.program_id)
        assert last >= 41
        db.session.remove()
        downgrade(revision="0037_herd3")
        assert "program_tag" not in inspect(db.engine).get_table_names()
        with db.engine.connect() as connection:
            kept = connection.execute(
                text("SELECT last_update_tag FROM program WHERE id = :id"),
                {"id": demo.program_id},
            ).scalar_one()
        assert kept == last
        upgrade()
        db.session.remove()
        assert last_update_tag(demo.program_id) == last
        # The counter goes on from there.
        assert next_update_tag(demo.program_id) == last + 1
        db.session.rollback()
