"""The production server starts from gunicorn.conf.py with settings from the
environment only, and serves the app (the same way a deployment does)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import Demo

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_gunicorn_serves_the_app_configured_from_the_environment(
    database_url: str, pki_dir: Path, demo: Demo
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PASS_CERT_FILE": str(pki_dir / "pass.pem"),
        "PASS_KEY_FILE": str(pki_dir / "pass.key"),
        "WWDR_CERT_FILE": str(pki_dir / "wwdr.pem"),
        "PASS_TYPE_IDENTIFIER": "pass.test.wallet.loyalty",
        "TEAM_IDENTIFIER": "TESTTEAM01",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body, _ = get(f"http://127.0.0.1:{port}/readyz")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert status == 200, body
        card = demo.passes[0]
        status, body, headers = get(
            f"http://127.0.0.1:{port}/c/{card.card_token}/pass.pkpass"
        )
        assert status == 200
        assert headers["Content-Type"] == "application/vnd.apple.pkpass"
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    # Graceful shutdown, and no request path (with its token) in the server's log.
    assert server.returncode == 0, output
    assert card.card_token not in output
