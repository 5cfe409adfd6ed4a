"""Helpers for the push tests: app settings for the stand-ins, a relay, draining."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flask import Flask

from app.extensions import db
from app.push.senders import build_senders
from app.push.worker import Settings, Stats, Worker
from tests.support.apns_server import ApnsStandIn

TOPIC = "pass.test.wallet.loyalty"
TEAM = "TESTTEAM01"


def start_apns(
    pki_dir: Path, mode: str = "certificate", delay: float = 0.0
) -> ApnsStandIn:
    """The APNs stand-in over TLS on loopback, checking `mode` credentials."""
    if mode == "token":
        return ApnsStandIn(
            str(pki_dir / "apns-server.pem"),
            str(pki_dir / "apns-server.key"),
            TOPIC,
            token_key_pem=(pki_dir / "apns.p8").read_bytes(),
            team_id=TEAM,
            key_id=(pki_dir / "apns-key-id.txt").read_text().strip(),
            delay=delay,
        ).start()
    return ApnsStandIn(
        str(pki_dir / "apns-server.pem"),
        str(pki_dir / "apns-server.key"),
        TOPIC,
        client_ca_file=os.pathsep.join(
            [str(pki_dir / "ca.pem"), str(pki_dir / "wwdr.pem")]
        ),
        delay=delay,
    ).start()


def push_config(pki_dir: Path, apns_url: str, mode: str = "certificate") -> dict:
    """Settings that point the worker at the stand-ins, with quick retries."""
    return {
        "APNS_URL": apns_url,
        "APNS_CA_FILE": str(pki_dir / "ca.pem"),
        "APNS_AUTH": mode,
        "APNS_KEY_FILE": str(pki_dir / "apns.p8"),
        "APNS_KEY_ID": (pki_dir / "apns-key-id.txt").read_text().strip(),
        "WALLETPASSES_PUSH_URL": "",
        "PUSH_RETRY_BASE_SECONDS": "0.02",
        "PUSH_POLL_SECONDS": "0.05",
        "PUSH_MAX_ATTEMPTS": "5",
        # Fail as soon as the attempts run out (the outage tests raise it).
        "PUSH_GIVE_UP_SECONDS": "0",
    }


def drain(app: Flask) -> Stats:
    """Run the worker in-process until nothing is queued."""
    with app.app_context():
        db.session.remove()
        worker = Worker(
            db.engine,
            build_senders(app.config, app),
            Settings.from_config(app.config),
        )
        # In a thread of its own: Playwright's sync API may own this thread's loop.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, worker.run(until_idle=True)).result()


class Relay:
    """A local stand-in for the WalletPasses push relay (plain HTTP)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.answers: list[int] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                status = relay.answers.pop(0) if relay.answers else 200
                if self.path == "/api/v1/push":
                    relay.requests.append((dict(self.headers), body))
                else:
                    status = 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/v1/push"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
