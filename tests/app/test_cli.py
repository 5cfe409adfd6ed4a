"""Operator commands: dev-certs, demo (idempotent), init-db."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import Member, Pass, Program, Store


def counts(app: Flask) -> tuple[int, ...]:
    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Program, Store, Member, Pass)
        )


def test_demo_is_idempotent_and_realistic(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["stores"] >= 12
    before = counts(app)
    with app.app_context():
        tags = db.session.scalars(select(Pass.update_tag).order_by(Pass.id)).all()
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0, again.output
    assert counts(app) == before
    with app.app_context():
        assert (
            db.session.scalars(select(Pass.update_tag).order_by(Pass.id)).all() == tags
        )
        cities = set(db.session.scalars(select(Store.city)))
        assert len(cities) >= 2
        program = db.session.scalar(select(Program))
        assert program.design["background"].startswith("#")
        assert all(
            41 < s.latitude < 70 and 19 < s.longitude < 180
            for s in db.session.scalars(select(Store))
        )


def test_dev_certs_writes_files_once_and_skips_real_ones(
    app: Flask, tmp_path: Path
) -> None:
    target = tmp_path / "dev"
    app.config.update(
        DEV_CERTS_DIR=str(target), PASS_CERT_FILE=str(target / "pass.pem")
    )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["dev-certs"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in target.iterdir()}
    assert {"ca.pem", "wwdr.pem", "pass.pem", "pass.key", "apns.p8"} <= names
    assert "google-service-account.json" in names
    stamp = (target / "pass.pem").read_bytes()
    assert "already" in runner.invoke(args=["dev-certs"]).output
    assert (target / "pass.pem").read_bytes() == stamp
    assert runner.invoke(args=["dev-certs", "--force"]).exit_code == 0
    assert (target / "pass.pem").read_bytes() != stamp

    app.config["PASS_CERT_FILE"] = str(tmp_path / "real" / "pass.pem")
    assert "real certificates" in runner.invoke(args=["dev-certs"]).output


def test_init_db_is_repeatable(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "latest migration" in result.output
