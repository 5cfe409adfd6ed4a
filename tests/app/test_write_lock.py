"""Customers signing up at the same moment (issue 14 §8): every request that may
write begins as a writer (SQLite: BEGIN IMMEDIATE, see app/database.py), so
concurrent sign-ups, purchases and device registrations wait their turn instead
of failing with 503 `database_unavailable` when a read transaction cannot
upgrade its lock. Against the dev server (werkzeug, threaded) and gunicorn."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Member, Pass, Store
from tests.app.pos_support import card, make_key
from tests.app.test_gunicorn import free_port
from tests.app.test_pos_concurrency import all_at_once
from tests.conftest import Demo
from tests.support.liveserver import live_server

ROOT = Path(__file__).resolve().parents[2]
SIGNUPS = 16
PURCHASES = 8
REGISTRATIONS = 8


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
    )


def _send(
    opener: urllib.request.OpenerDirector, request: urllib.request.Request
) -> tuple[int, bytes]:
    try:
        with opener.open(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def phone(i: int) -> str:
    """A new phone per sign-up (E.164, as stored)."""
    return f"+7915000{i:04d}"


def _workload(app: Flask, base: str, demo: Demo) -> list[Callable[[], Any]]:
    """One callable per request, prepared (CSRF tokens fetched) beforehand."""
    with app.app_context():
        store_id = db.session.scalar(select(Store.id).where(Store.code == "msk-atrium"))
    key = make_key(app)
    numbers = [card(app, p.member_id).number for p in demo.passes]
    work: list[Callable[[], Any]] = []
    for i in range(SIGNUPS):
        opener = _opener()
        status, page = _send(opener, urllib.request.Request(f"{base}/join"))
        assert status == 200
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page)
        form = {
            "name": f"Покупатель Номер{i}",
            "phone": phone(i),
            "store": str(store_id),
            "city": "",
            "language": "ru",
            "consent": "on",
            "csrf_token": token.group(1).decode() if token else "",
        }
        request = urllib.request.Request(
            f"{base}/join", data=urllib.parse.urlencode(form).encode(), method="POST"
        )
        work.append(lambda o=opener, r=request: ("signup", *_send(o, r)))
    for i in range(PURCHASES):
        body = {
            "code": numbers[i % len(numbers)],
            "amount": "100",
            "receipt_id": f"r-{i}",
        }
        request = urllib.request.Request(
            f"{base}/api/v1/pos/transactions",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": str(uuid.uuid4()),
            },
            method="POST",
        )
        work.append(lambda r=request: ("purchase", *_send(_opener(), r)))
    for i in range(REGISTRATIONS):
        p = demo.passes[i % len(demo.passes)]
        device = uuid.uuid4().hex
        request = urllib.request.Request(
            f"{base}/wallet/v1/devices/{device}/registrations/{demo.pass_type}/"
            f"{p.serial}",
            data=json.dumps({"pushToken": uuid.uuid4().hex * 2}).encode(),
            headers={
                "Authorization": f"ApplePass {p.token}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        work.append(lambda r=request: ("register", *_send(_opener(), r)))
    return work


def _run_and_check(app: Flask, work: list[Callable[[], Any]]) -> None:
    results = all_at_once(len(work), lambda i: work[i]())
    failures = [(kind, status, body[:200]) for kind, status, body in results]
    failures = [f for f in failures if f[1] >= 500]
    assert not failures, failures
    expected = {"signup": (200, 303), "purchase": (201,), "register": (201,)}
    for kind, status, body in results:
        assert status in expected[kind], (kind, status, body[:300])
    # Every sign-up got its card, with its pass.
    with app.app_context():
        for i in range(SIGNUPS):
            member = db.session.scalar(select(Member).where(Member.phone == phone(i)))
            assert member is not None, phone(i)
            assert db.session.scalar(select(Pass.id).where(Pass.member_id == member.id))


def test_concurrent_signups_purchases_and_registrations_on_the_dev_server(
    app: Flask, demo: Demo
) -> None:
    app.config["RATELIMIT_SIGNUP"] = "1000 per minute"
    with live_server(app) as base:
        _run_and_check(app, _workload(app, base, demo))


def test_concurrent_signups_purchases_and_registrations_on_gunicorn(
    app: Flask, database_url: str, pki_dir: Path, demo: Demo
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
        "THREADS": "8",
        "RATELIMIT_SIGNUP": "1000 per minute",
        "RATELIMIT_PAGES": "1000 per minute",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = _send(_opener(), urllib.request.Request(f"{base}/readyz"))
                if status == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        _run_and_check(app, _workload(app, base, demo))
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0].decode()
    assert "database unavailable" not in output, output


def test_the_join_page_is_a_reader_unless_it_records_a_share_link(
    app: Flask, client: Any, demo: Demo
) -> None:
    """A plain GET /join does not queue for SQLite's write lock: with another
    connection holding it, the page still answers (before, it waited out the
    busy timeout, then failed with 503)."""
    import sqlite3

    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    if not url.startswith("sqlite"):
        return  # PostgreSQL has no database-wide write lock to wait for
    holder = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        page = client.get("/join")
        assert page.status_code == 200
        assert b'name="phone"' in page.data
    finally:
        holder.execute("ROLLBACK")
        holder.close()
