"""The signed-pass cache: signed ahead by the worker, served by the web service."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

import passes
from app.extensions import db
from app.models import Member, Pass, Program, SignedPass, SignedPassPart
from app.push import worker as worker_module
from app.push.senders import build_senders
from app.push.worker import Pacer, Settings, Worker
from app.services import pass_cache
from app.services import passes as pass_service
from app.services.passes import refresh_pass
from tests.conftest import Demo, DemoPass
from tests.support.apns_server import ApnsStandIn
from tests.support.openssl import verify_pkpass

DEVICE = "cache-device-0001"
TOKEN = "ab" * 32


def pass_url(demo: Demo, p: DemoPass) -> str:
    return f"/wallet/v1/passes/{demo.pass_type}/{p.serial}"


def auth(p: DemoPass) -> dict[str, str]:
    return {"Authorization": f"ApplePass {p.token}"}


def cache_rows(app: Flask) -> list[tuple[int, int, bytes]]:
    """(pass id, tag, the whole archive) of each cache row: its shared part
    (the design's images, when the worker signed it) and its own bytes."""
    with app.app_context():
        rows = db.session.execute(
            select(
                SignedPass.pass_id,
                SignedPass.update_tag,
                func.coalesce(SignedPassPart.data, b""),
                SignedPass.data,
            ).outerjoin(SignedPassPart, SignedPassPart.digest == SignedPass.shared)
        ).all()
        return [(pass_id, tag, shared + own) for pass_id, tag, shared, own in rows]


def pass_state(app: Flask, member_id: int) -> tuple[int, int]:
    with app.app_context():
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        assert pass_ is not None
        return pass_.id, pass_.update_tag


def add_points(app: Flask, member_id: int, points: int) -> None:
    with app.app_context():
        member = db.session.get(Member, member_id)
        assert member is not None
        member.points += points
        pass_ = db.session.scalar(select(Pass).where(Pass.member_id == member_id))
        assert pass_ is not None
        assert refresh_pass(pass_)
        db.session.commit()


def points(pkpass: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(pkpass)) as archive:
        pass_json = json.loads(archive.read("pass.json"))
    return int(pass_json["storeCard"]["headerFields"][0]["value"])


def test_a_miss_signs_and_stores_then_the_cache_is_served(
    app: Flask, client: FlaskClient, demo: Demo, pki_dir: Path, tmp_path: Path
) -> None:
    p = demo.passes[0]
    pass_id, tag = pass_state(app, p.member_id)
    assert cache_rows(app) == []

    first = client.get(pass_url(demo, p), headers=auth(p))
    assert first.status_code == 200
    [(cached_id, cached_tag, data)] = cache_rows(app)
    assert (cached_id, cached_tag, data) == (pass_id, tag, first.data)
    verify_pkpass(data, pki_dir / "ca.pem", tmp_path)

    # Served from the table, not signed again: a marker put there comes back.
    with app.app_context():
        db.session.execute(update(SignedPass).values(data=b"from the cache"))
        db.session.commit()
    again = client.get(pass_url(demo, p), headers=auth(p))
    assert again.data == b"from the cache"
    assert again.headers["Last-Modified"] == first.headers["Last-Modified"]

    since = {"If-Modified-Since": first.headers["Last-Modified"], **auth(p)}
    assert client.get(pass_url(demo, p), headers=since).status_code == 304


def test_a_tag_change_invalidates_and_replaces_the_row(
    app: Flask, client: FlaskClient, demo: Demo, pki_dir: Path, tmp_path: Path
) -> None:
    p = demo.passes[0]
    first = client.get(pass_url(demo, p), headers=auth(p))
    add_points(app, p.member_id, 250)
    pass_id, tag = pass_state(app, p.member_id)

    since = {"If-Modified-Since": first.headers["Last-Modified"], **auth(p)}
    updated = client.get(pass_url(demo, p), headers=since)
    assert updated.status_code == 200
    assert points(updated.data) == points(first.data) + 250
    verify_pkpass(updated.data, pki_dir / "ca.pem", tmp_path)
    # One row per pass: the older tag's bytes are gone.
    assert cache_rows(app) == [(pass_id, tag, updated.data)]


def test_a_replaced_certificate_is_never_served_from_the_cache(
    app: Flask, client: FlaskClient, demo: Demo, tmp_path: Path
) -> None:
    p = demo.passes[0]
    pass_id, _ = pass_state(app, p.member_id)
    first = client.get(pass_url(demo, p), headers=auth(p))
    assert first.status_code == 200
    with app.app_context():
        assert pass_cache.sign_ahead([pass_id]) == 0  # cached with this certificate

    # A new pass certificate (a new CA too) replaces the files in the settings.
    renewed = tmp_path / "renewed"
    renewed.mkdir()
    pki = passes.make_dev_pki("pass.test.wallet.loyalty", "TESTTEAM01", "Wallet Test")
    passes.write_dev_pki(pki, renewed)
    app.config["PASS_CERT_FILE"] = str(renewed / "pass.pem")
    app.config["PASS_KEY_FILE"] = str(renewed / "pass.key")
    app.config["WWDR_CERT_FILE"] = str(renewed / "wwdr.pem")

    # The row signed with the old certificate is a miss: signed again with the
    # new one, and stored in its place (same tag, same Last-Modified).
    again = client.get(pass_url(demo, p), headers=auth(p))
    assert again.status_code == 200
    assert again.data != first.data
    assert again.headers["Last-Modified"] == first.headers["Last-Modified"]
    verify_pkpass(again.data, renewed / "ca.pem", tmp_path)
    [(_, _, data)] = cache_rows(app)
    assert data == again.data
    with app.app_context():
        fingerprint = db.session.scalar(select(SignedPass.certificate))
        assert fingerprint == pass_service.signer().fingerprint
        assert pass_cache.sign_ahead([pass_id]) == 0

    # The worker's sign-ahead re-signs rows of an old certificate too.
    with app.app_context():
        db.session.execute(update(SignedPass).values(certificate="0" * 64))
        db.session.commit()
        assert pass_cache.sign_ahead([pass_id]) == 1
    served = client.get(pass_url(demo, p), headers=auth(p))
    verify_pkpass(served.data, renewed / "ca.pem", tmp_path)


def test_an_older_version_never_replaces_a_newer_one(app: Flask, demo: Demo) -> None:
    pass_id, tag = pass_state(app, demo.passes[0].member_id)
    with app.app_context():
        pass_ = db.session.get(Pass, pass_id)
        assert pass_ is not None
        modified = pass_.updated_at
        newer = {
            "b_pass": pass_id,
            "b_tag": tag + 5,
            "b_modified": modified,
            "b_certificate": "",
            "b_shared": "",
        }
        pass_cache.store([{**newer, "b_data": b"newer"}])
        pass_cache.store([{**newer, "b_tag": tag, "b_data": b"older"}])
    assert cache_rows(app) == [(pass_id, tag + 5, b"newer")]


def test_the_worker_signs_changed_passes_before_pushing(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    push_app: Flask,
    apns: ApnsStandIn,
    pki_dir: Path,
    tmp_path: Path,
) -> None:
    p = demo.passes[0]
    registered = client.post(
        f"/wallet/v1/devices/{DEVICE}/registrations/{demo.pass_type}/{p.serial}",
        json={"pushToken": TOKEN},
        headers=auth(p),
    )
    assert registered.status_code == 201
    add_points(app, p.member_id, 300)
    pass_id, tag = pass_state(app, p.member_id)
    assert cache_rows(app) == []

    with push_app.app_context():
        db.session.remove()
        worker = Worker(
            db.engine,
            build_senders(push_app.config, push_app),
            Settings.from_config(push_app.config),
            sign_ahead=pass_cache.signer_for(push_app),
        )
        with ThreadPoolExecutor(1) as pool:
            stats = pool.submit(asyncio.run, worker.run(until_idle=True)).result()
    assert stats.counters["signed_ahead"] == 1
    assert [push.token for push in apns.pushes] == [TOKEN]

    [(cached_id, cached_tag, data)] = cache_rows(app)
    assert (cached_id, cached_tag) == (pass_id, tag)
    verify_pkpass(data, pki_dir / "ca.pem", tmp_path)
    served = client.get(pass_url(demo, p), headers=auth(p))
    assert served.data == data
    # Signed again only when the tag moves: a second run signs nothing.
    with app.app_context():
        assert pass_cache.sign_ahead([pass_id]) == 0
        count = db.session.scalar(select(func.count()).select_from(SignedPass))
    assert count == 1


def test_the_first_pushes_go_out_after_the_first_slice_is_signed(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    push_app: Flask,
    apns: ApnsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = []
    for number, p in enumerate(demo.passes):
        token = f"{number:02x}" * 32
        tokens.append(token)
        registered = client.post(
            f"/wallet/v1/devices/{DEVICE}{number}/registrations/"
            f"{demo.pass_type}/{p.serial}",
            json={"pushToken": token},
            headers=auth(p),
        )
        assert registered.status_code == 201
        add_points(app, p.member_id, 100)
    monkeypatch.setattr(worker_module, "FIRST_SLICE", 1)
    signer = pass_cache.signer_for(push_app)
    seen: list[tuple[int, int]] = []  # (passes to sign, pushes already sent)

    def sign(pass_ids: list[int]) -> int:
        seen.append((len(pass_ids), len(apns.pushes)))
        return signer(pass_ids)

    with push_app.app_context():
        db.session.remove()
        worker = Worker(
            db.engine,
            build_senders(push_app.config, push_app),
            Settings.from_config(push_app.config),
            sign_ahead=sign,
        )
        with ThreadPoolExecutor(1) as pool:
            stats = pool.submit(asyncio.run, worker.run(until_idle=True)).result()
    # One batch of three: one pass signed and pushed, then the other two.
    assert seen == [(1, 0), (2, 1)]
    assert stats.counters["signed_ahead"] == 3
    assert sorted(push.token for push in apns.pushes) == sorted(tokens)
    assert len(cache_rows(app)) == 3


@pytest.mark.parametrize(
    ("sign_steps", "signed"),
    [("1", [(1, 0), (1, 1), (1, 2)]), ("2", [(2, 0), (1, 2)])],
)
def test_a_paced_worker_signs_just_before_pushing_and_pushes_step_by_step(
    app: Flask,
    client: FlaskClient,
    demo: Demo,
    push_app: Flask,
    apns: ApnsStandIn,
    sign_steps: str,
    signed: list[tuple[int, int]],
) -> None:
    """With PUSH_RATE_LIMIT the worker pushes one pacer step at a time (here one
    device) and signs only the PUSH_SIGN_STEPS steps about to go out, each group
    after the previous one was pushed, not a claimed batch's passes at once."""
    tokens = []
    for number, p in enumerate(demo.passes):
        token = f"{number + 16:02x}" * 32
        tokens.append(token)
        registered = client.post(
            f"/wallet/v1/devices/{DEVICE}{number}/registrations/"
            f"{demo.pass_type}/{p.serial}",
            json={"pushToken": token},
            headers=auth(p),
        )
        assert registered.status_code == 201
        add_points(app, p.member_id, 100)
    signer = pass_cache.signer_for(push_app)
    seen: list[tuple[int, int]] = []  # (passes to sign, pushes already sent)

    def sign(pass_ids: list[int]) -> int:
        seen.append((len(pass_ids), len(apns.pushes)))
        return signer(pass_ids)

    # 10 devices/s: one claim of up to 10, pushed one device per 0.1 s step.
    settings = Settings.from_config(
        {
            **push_app.config,
            "PUSH_RATE_LIMIT": "10",
            "PUSH_SIGN_STEPS": sign_steps,
        }
    )
    with push_app.app_context():
        db.session.remove()
        worker = Worker(
            db.engine,
            build_senders(push_app.config, push_app),
            settings,
            sign_ahead=sign,
        )
        sends: list[int] = []
        send = worker._send

        async def counted(jobs: list) -> tuple:  # type: ignore[type-arg]
            sends.append(len(jobs))
            return await send(jobs)

        worker._send = counted  # type: ignore[method-assign]
        with ThreadPoolExecutor(1) as pool:
            stats = pool.submit(asyncio.run, worker.run(until_idle=True)).result()
    count = len(demo.passes)
    assert count == 3
    assert seen == signed
    assert sends == [1] * count  # one device per step
    assert stats.counters["signed_ahead"] == count
    assert sorted(push.token for push in apns.pushes) == sorted(tokens)
    assert len(cache_rows(app)) == count


def test_the_pacer_step_is_a_tenth_of_a_second_by_default() -> None:
    assert Pacer(30).step() == 3
    assert Pacer(5000).step() == 500
    assert Pacer(4).step() == 1  # never less than one device
    assert Pacer(0).step() == 0  # unpaced: the growing slices
    assert Pacer(30, step_seconds=0.5).step() == 15
    settings = Settings.from_config({"PUSH_RATE_LIMIT": "30", "PUSH_STEP_SECONDS": "1"})
    assert Worker(None, {}, settings).pacer.step() == 30  # type: ignore[arg-type]


def test_the_pacer_spreads_sends_at_the_rate() -> None:
    now = [100.0]
    pacer = Pacer(500, clock=lambda: now[0])
    assert pacer.batch(1000) == 500
    assert pacer.delay(500) == 0.0
    assert pacer.delay(500) == 1.0  # the second 500 wait a second
    now[0] = 100.5
    assert pacer.delay(250) == 1.5
    unlimited = Pacer(0)
    assert (unlimited.batch(1000), unlimited.delay(10**6)) == (1000, 0.0)


def test_push_rate_limit_setting_paces_the_worker() -> None:
    settings = Settings.from_config({"PUSH_RATE_LIMIT": "250"})
    worker = Worker(None, {}, settings)  # type: ignore[arg-type]
    assert settings.rate_limit == 250.0
    assert worker.pacer.batch(1000) == 250
    assert Settings.from_config({}).rate_limit == 0.0


def test_a_batch_builds_the_same_passes_as_one_by_one(
    app: Flask, demo: Demo, pki_dir: Path, tmp_path: Path
) -> None:
    """The worker's batched build (one offers query, one signer and program view
    per program) gives every file of each pass exactly as building it alone."""
    from app.services import passes as pass_service

    with app.app_context():
        group = list(db.session.scalars(select(Pass).order_by(Pass.id)))
        assert len(group) == len(demo.passes)
        batch = pass_service.build_pkpasses(group)
        for pass_ in group:
            alone = pass_service.build_pkpass(pass_)
            parts = batch[pass_.id]
            assert isinstance(parts, tuple)
            built = parts[0] + parts[1]
            verify_pkpass(built, pki_dir / "ca.pem", tmp_path)
            with (
                zipfile.ZipFile(io.BytesIO(built)) as one,
                zipfile.ZipFile(io.BytesIO(alone)) as other,
            ):
                assert one.namelist() == other.namelist()
                for name in one.namelist():
                    if name != "signature":  # its signing time differs
                        assert one.read(name) == other.read(name), name


def test_postgresql_keeps_the_bytes_uncompressed(app: Flask, database_url: str) -> None:
    """pglz spent ~0.4 ms of server CPU per stored .pkpass (a zip of PNGs and a
    signature) for ~30 %: the column is STORAGE EXTERNAL (migration 0028_herd2)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's TOAST setting")
    from sqlalchemy import text

    with app.app_context():
        storage = db.session.scalar(
            text(
                "SELECT attstorage FROM pg_attribute WHERE attname = 'data' "
                "AND attrelid = 'signed_pass'::regclass"
            )
        )
    assert storage == "e"


def test_the_design_s_images_are_stored_once_and_each_pass_its_own_part(
    app: Flask, client: FlaskClient, demo: Demo, pki_dir: Path, tmp_path: Path
) -> None:
    """Signed ahead, a row holds the pass's own ~4 KB and the digest of the
    design's shared part (its image entries), stored once for all its passes;
    the web serves the two joined: a whole archive that verifies."""
    with app.app_context():
        ids = list(db.session.scalars(select(Pass.id).order_by(Pass.id)))
        assert pass_cache.sign_ahead(ids) == len(ids) > 1
        [(digest, shared)] = db.session.execute(
            select(SignedPassPart.digest, SignedPassPart.data)
        ).all()
        rows = db.session.execute(select(SignedPass.shared, SignedPass.data)).all()
    assert {row[0] for row in rows} == {digest}
    assert all(len(own) < len(shared) for _, own in rows)
    for p in demo.passes:
        served = client.get(pass_url(demo, p), headers=auth(p))
        assert served.status_code == 200
        assert served.data.startswith(shared)
        verify_pkpass(served.data, pki_dir / "ca.pem", tmp_path)
    assert sorted(data for _, _, data in cache_rows(app)) == sorted(
        client.get(pass_url(demo, p), headers=auth(p)).data for p in demo.passes
    )


def test_a_changed_design_is_a_new_shared_part(
    app: Flask, client: FlaskClient, demo: Demo, pki_dir: Path, tmp_path: Path
) -> None:
    """A new design (its images) gets a new digest: a web process that served
    the old images (and keeps them by digest) serves the new ones, with a
    manifest that matches them."""
    p = demo.passes[0]
    with app.app_context():
        pass_id = db.session.scalar(
            select(Pass.id).where(Pass.serial_number == p.serial)
        )
        assert pass_cache.sign_ahead([pass_id]) == 1
    before = client.get(pass_url(demo, p), headers=auth(p))
    with app.app_context():
        program = db.session.get_one(Program, demo.program_id)
        program.design = {**program.design, "background": "#102030"}
        pass_ = db.session.get_one(Pass, pass_id)
        assert refresh_pass(pass_)
        db.session.commit()
        assert pass_cache.sign_ahead([pass_id]) == 1
        digests = set(db.session.scalars(select(SignedPassPart.digest)))
        current = db.session.scalar(select(SignedPass.shared))
    assert len(digests) == 2
    assert current in digests
    after = client.get(pass_url(demo, p), headers=auth(p))
    assert after.status_code == 200
    verify_pkpass(after.data, pki_dir / "ca.pem", tmp_path)
    with (
        zipfile.ZipFile(io.BytesIO(before.data)) as old,
        zipfile.ZipFile(io.BytesIO(after.data)) as new,
    ):
        assert old.read("strip@2x.png") != new.read("strip@2x.png")
        assert json.loads(new.read("pass.json"))["backgroundColor"] == "rgb(16, 32, 48)"
