"""Two brands in one deployment, each with its own pass type: the worker pushes
each pass over its own brand's identity (its certificate, or its team's key),
chosen by the delivery's topic, in both APNs auth modes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

import passes
from app.extensions import db
from app.models import Device, Program, PushDelivery
from app.push.clients import ApnsClients, ProgramFiles, program_credentials
from tests.app.campaign_support import add_member, register_device
from tests.app.test_push import add_points
from tests.conftest import Demo
from tests.support.apns_server import ApnsStandIn
from tests.support.push import TEAM, TOPIC, drain, push_config

SECOND_TYPE, SECOND_TEAM = "pass.second.brand", "SECONDTM01"


@dataclass(frozen=True)
class Brands:
    first_member: int
    first_token: str
    second_member: int
    second_token: str
    second_files: Path


@pytest.fixture
def second_pki(tmp_path: Path) -> Path:
    directory = tmp_path / "second"
    passes.write_dev_pki(
        passes.make_dev_pki(SECOND_TYPE, SECOND_TEAM, "Second"), directory
    )
    return directory


def add_brands(app: Flask, demo: Demo, second: Path, *, team_key: bool) -> Brands:
    """The second program with its own certificate (and team key), and one
    registered device on each program's pass."""
    with app.app_context():
        first = db.session.get(Program, demo.program_id)
        program = Program(
            slug="second",
            name="Вторая Марка",
            organization_name="Вторая Марка",
            description="Карта «Вторая Марка»",
            logo_text="Вторая Марка",
            pass_type_identifier=SECOND_TYPE,
            team_identifier=SECOND_TEAM,
            design=dict(first.design),
            texts={},
            tiers=[{"code": "base", "name": {"ru": "Базовый", "en": "Base"}}],
            pass_cert_file=str(second / "pass.pem"),
            pass_key_file=str(second / "pass.key"),
            wwdr_cert_file=str(second / "wwdr.pem"),
        )
        if team_key:
            program.apns_key_file = str(second / "apns.p8")
            program.apns_key_id = (second / "apns-key-id.txt").read_text().strip()
        db.session.add(program)
        db.session.flush()
        members = [add_member(first, tier="base"), add_member(program, tier="base")]
        devices = [register_device(member) for member in members]
        db.session.commit()
        return Brands(
            members[0].id,
            devices[0].push_token,
            members[1].id,
            devices[1].push_token,
            second,
        )


def change_both(app: Flask, brands: Brands) -> None:
    add_points(app, brands.first_member, 10)
    add_points(app, brands.second_member, 10)


@pytest.fixture
def certificate_stand_in(pki_dir: Path, second_pki: Path) -> Iterator[ApnsStandIn]:
    """Trusts both brands' certificate authorities; each topic needs its own
    client certificate (subject UID = the topic)."""
    server = ApnsStandIn(
        str(pki_dir / "apns-server.pem"),
        str(pki_dir / "apns-server.key"),
        TOPIC,
        client_ca_file=os.pathsep.join(
            str(directory / name)
            for directory in (pki_dir, second_pki)
            for name in ("ca.pem", "wwdr.pem")
        ),
    )
    server.allow(SECOND_TYPE)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def token_stand_in(pki_dir: Path, second_pki: Path) -> Iterator[ApnsStandIn]:
    """Each topic's provider token must be signed by its own team's key."""
    server = ApnsStandIn(
        str(pki_dir / "apns-server.pem"),
        str(pki_dir / "apns-server.key"),
        TOPIC,
        token_key_pem=(pki_dir / "apns.p8").read_bytes(),
        team_id=TEAM,
        key_id=(pki_dir / "apns-key-id.txt").read_text().strip(),
    )
    server.allow(
        SECOND_TYPE,
        token_key_pem=(second_pki / "apns.p8").read_bytes(),
        team_id=SECOND_TEAM,
        key_id=(second_pki / "apns-key-id.txt").read_text().strip(),
    )
    server.start()
    yield server
    server.stop()


def pushes(server: ApnsStandIn) -> dict[str, tuple[str, str | None, int]]:
    """token -> (topic, the identity it came with, status)."""
    return {p.token: (p.topic, p.identity, p.status) for p in server.pushes}


def test_each_brand_is_pushed_with_its_own_certificate(
    make_app: Callable[[dict], Flask],
    demo: Demo,
    pki_dir: Path,
    second_pki: Path,
    certificate_stand_in: ApnsStandIn,
) -> None:
    app = make_app(push_config(pki_dir, certificate_stand_in.url))
    brands = add_brands(app, demo, second_pki, team_key=False)
    change_both(app, brands)
    stats = drain(app)
    assert pushes(certificate_stand_in) == {
        brands.first_token: (TOPIC, TOPIC, 200),
        brands.second_token: (SECOND_TYPE, SECOND_TYPE, 200),
    }
    assert stats.counters["sent"] == 2
    # One client (connection) per certificate.
    assert certificate_stand_in.connections == 2


def test_each_brand_is_pushed_with_its_own_teams_key(
    make_app: Callable[[dict], Flask],
    demo: Demo,
    pki_dir: Path,
    second_pki: Path,
    token_stand_in: ApnsStandIn,
) -> None:
    app = make_app(push_config(pki_dir, token_stand_in.url, mode="token"))
    brands = add_brands(app, demo, second_pki, team_key=True)
    change_both(app, brands)
    drain(app)
    assert pushes(token_stand_in) == {
        brands.first_token: (TOPIC, TEAM, 200),
        brands.second_token: (SECOND_TYPE, SECOND_TEAM, 200),
    }
    assert token_stand_in.connections == 2
    # A campaign's second round goes over the same two clients (no new ones).
    token_stand_in.reset()
    change_both(app, brands)
    drain(app)
    assert {status for _, _, status in pushes(token_stand_in).values()} == {200}


def test_a_brand_of_another_team_without_a_key_fails_clearly(
    make_app: Callable[[dict], Flask],
    demo: Demo,
    pki_dir: Path,
    second_pki: Path,
    token_stand_in: ApnsStandIn,
) -> None:
    app = make_app(push_config(pki_dir, token_stand_in.url, mode="token"))
    brands = add_brands(app, demo, second_pki, team_key=False)
    change_both(app, brands)
    drain(app)
    # The first brand is pushed; the second is never sent with the wrong team's
    # token, and the delivery says why.
    assert pushes(token_stand_in) == {brands.first_token: (TOPIC, TEAM, 200)}
    with app.app_context():
        rows = {
            row.push_token: row
            for row in db.session.scalars(select(PushDelivery))
            if row.push_token in (brands.first_token, brands.second_token)
        }
        assert rows[brands.first_token].status == "sent"
        failed = rows[brands.second_token]
        assert failed.status == "failed"
        assert "no APNs key for team SECONDTM01" in (failed.last_reason or "")
        # The device is kept: the token is fine, the configuration is not.
        assert db.session.scalar(
            select(Device).where(Device.push_token == brands.second_token)
        )


def test_credentials_by_program(pki_dir: Path, second_pki: Path) -> None:
    config = {
        **push_config(pki_dir, "https://127.0.0.1:1"),
        "PASS_CERT_FILE": str(pki_dir / "pass.pem"),
        "PASS_KEY_FILE": str(pki_dir / "pass.key"),
        "TEAM_IDENTIFIER": TEAM,
    }
    own = ProgramFiles(
        "second",
        SECOND_TYPE,
        SECOND_TEAM,
        str(second_pki / "pass.pem"),
        str(second_pki / "pass.key"),
    )
    plain = ProgramFiles("demo", TOPIC, TEAM)
    clients = ApnsClients(config)
    deployment = clients.deployment
    assert program_credentials(config, plain) == deployment
    assert program_credentials(config, own).cert_file == str(second_pki / "pass.pem")
    token = {**config, "APNS_AUTH": "token"}
    assert program_credentials(token, plain) == ApnsClients(token).deployment
    assert "no APNs key for team SECONDTM01" in str(program_credentials(token, own))


@pytest.mark.parametrize("team_key", [False, True])
def test_check_certs_reports_each_brands_apns_key(
    make_app: Callable[[dict], Flask],
    demo: Demo,
    pki_dir: Path,
    second_pki: Path,
    team_key: bool,
) -> None:
    app = make_app(push_config(pki_dir, "https://127.0.0.1:1", mode="token"))
    add_brands(app, demo, second_pki, team_key=team_key)
    result = app.test_cli_runner().invoke(args=["check-certs"])
    if team_key:
        assert result.exit_code == 0, result.output
        assert "ok      program second: APNs key: ES256 key loaded" in result.output
    else:
        assert result.exit_code == 1
        assert (
            "ERROR   program second: no APNs key for team SECONDTM01" in result.output
        )
