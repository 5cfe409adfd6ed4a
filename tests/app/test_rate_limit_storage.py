"""Several processes share one rate limit through RATELIMIT_STORAGE_URI=redis://
(a real redis-server the tests start); memory:// counts per process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.app.test_gunicorn import ROOT, free_port
from tests.conftest import Demo
from tests.support.redis import RedisServer


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def _status(url: str) -> int:
    request = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _gunicorn(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env={**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if _status(f"http://127.0.0.1:{port}/healthz") == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None:
            raise AssertionError(server.communicate()[0].decode())
        assert time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.2)


def test_two_servers_share_one_limit_through_redis(
    database_url: str, pki_dir: Path, demo: Demo, redis_server: RedisServer
) -> None:
    ports = [free_port(), free_port()]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-" + "x" * 32,
        "PASS_CERT_FILE": str(pki_dir / "pass.pem"),
        "PASS_KEY_FILE": str(pki_dir / "pass.key"),
        "WWDR_CERT_FILE": str(pki_dir / "wwdr.pem"),
        "PASS_TYPE_IDENTIFIER": demo.pass_type,
        "TEAM_IDENTIFIER": "TESTTEAM01",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports[0]}",
        "RATELIMIT_STORAGE_URI": redis_server.url(),
        "RATELIMIT_WALLET": "5 per minute",
    }
    servers = []
    try:
        for port in ports:
            servers.append(_gunicorn(env, port))
        path = f"/wallet/v1/devices/shared-device/registrations/{demo.pass_type}"
        first = [_status(f"http://127.0.0.1:{ports[0]}{path}") for _ in range(3)]
        second = [_status(f"http://127.0.0.1:{ports[1]}{path}") for _ in range(3)]
        # One device, one limit of 5 across both processes.
        assert first + second == [204] * 5 + [429]
        # Another device is counted apart, on either server.
        other = f"/wallet/v1/devices/other-device/registrations/{demo.pass_type}"
        assert _status(f"http://127.0.0.1:{ports[0]}{other}") == 204
        # The counts live in Redis.
        client = redis.Redis.from_url(redis_server.url())
        try:
            assert any(b"shared-device" in key for key in client.keys("*"))
        finally:
            client.close()
    finally:
        outputs = []
        for server in servers:
            server.send_signal(signal.SIGTERM)
            outputs.append(server.communicate(timeout=30)[0].decode())
    for output in outputs:
        assert "Traceback" not in output, output


def test_a_redis_outage_does_not_take_the_service_down(
    app_factory_config: dict[str, object], demo: Demo
) -> None:
    """Limits fall back to counting in memory while the store is unreachable."""
    from app import create_app

    down = RedisServer()  # a free port where nothing listens
    down.stop()
    app = create_app(
        {**app_factory_config, "RATELIMIT_STORAGE_URI": down.url(), "TESTING": True}
    )
    client = app.test_client()
    try:
        response = client.get(f"/wallet/v1/devices/d1/registrations/{demo.pass_type}")
        assert response.status_code == 204
        assert client.get("/join").status_code == 200
    finally:
        from app.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_the_herd_gets_keep_both_limits_while_the_store_is_down(
    app_factory_config: dict[str, object], demo: Demo
) -> None:
    """The herd's two GETs count apart from flask-limiter's generic path
    (app/security.py check_herd_limits): with the shared store unreachable they
    still count, in memory, per device and per address, and say when to retry."""
    from app import create_app

    down = RedisServer()
    down.stop()
    app = create_app(
        {
            **app_factory_config,
            "RATELIMIT_STORAGE_URI": down.url(),
            "RATELIMIT_WALLET": "2 per minute",
            "RATELIMIT_WALLET_ADDRESS": "5 per minute",
            "TESTING": True,
        }
    )
    client = app.test_client()
    try:
        one = f"/wallet/v1/devices/down-1/registrations/{demo.pass_type}"
        assert [client.get(one).status_code for _ in range(3)] == [204, 204, 429]
        limited = client.get(one)
        assert limited.get_json()["error"] == "too_many_requests"
        assert 1 <= int(limited.headers["Retry-After"]) <= 61
        # The per-address backstop: made-up devices from one address.
        made_up = [
            client.get(
                f"/wallet/v1/devices/down-made-up-{n}/registrations/{demo.pass_type}"
            ).status_code
            for n in range(4)
        ]
        # down-1's two allowed requests counted at this address (5 per minute);
        # its refused ones stopped at its own limit.
        assert made_up == [204, 204, 204, 429]
    finally:
        from app.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app_factory_config(pki_dir: Path, database_url: str) -> dict[str, object]:
    from tests.conftest import base_config

    return {**base_config(pki_dir), "SQLALCHEMY_DATABASE_URI": database_url}


def test_memory_storage_does_not_sweep_every_key_on_every_hit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """limits' MemoryStorage started a thread walking every key ~10 ms after a
    hit: with a key per phone, a herd paid that per request. memory:// now
    sweeps at most every few seconds; counts and expiry are unchanged."""
    import threading
    import time

    from limits import parse, strategies
    from limits.storage import storage_from_string

    import app.extensions  # noqa: F401 - registers memory:// (app.ratelimit_memory)

    started: list[object] = []
    original = threading.Timer.start

    def counted(timer: threading.Timer) -> None:
        started.append(timer)
        original(timer)

    monkeypatch.setattr(threading.Timer, "start", counted)
    storage = storage_from_string("memory://")
    limiter = strategies.FixedWindowRateLimiter(storage)
    per_device = parse("2 per second")
    for i in range(50):
        assert limiter.hit(per_device, f"device:{i}")
        time.sleep(0.02)  # longer than the old 10 ms timer
    assert len(started) <= 3, len(started)
    # Still counted and refused per key, and a key's window still ends.
    assert limiter.hit(per_device, "device:x")
    assert limiter.hit(per_device, "device:x")
    assert not limiter.hit(per_device, "device:x")
    time.sleep(1.1)
    assert limiter.hit(per_device, "device:x")
