"""The migrations build exactly the schema the models describe, on both databases
(several branches add migrations; a chain that skips one, or a model that drifts
from its migration, shows here)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import Migrate

from app.extensions import db


def test_the_migrated_schema_is_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        diff = compare_metadata(context, db.metadata)
        assert diff == []


def test_one_linear_chain_of_migrations(app: Flask) -> None:
    with app.app_context():
        migrate: Migrate = app.extensions["migrate"].migrate
        config = migrate.get_config()
        script = ScriptDirectory.from_config(config)
        assert len(script.get_heads()) == 1
        with db.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        assert current == script.get_current_head()
