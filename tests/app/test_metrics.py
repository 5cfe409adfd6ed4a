"""`/metrics`: Prometheus text, parsed with prometheus_client's own parser."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app.extensions import db
from app.models import PushDelivery
from app.models.base import utcnow
from tests.conftest import Demo

ROOT = Path(__file__).resolve().parents[2]


def scrape(client: FlaskClient, **headers: str) -> dict[str, list]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    families = text_string_to_metric_families(response.get_data(as_text=True))
    return {family.name: family.samples for family in families}


def value(samples: list, name: str, **labels: str) -> float | None:
    for sample in samples:
        if sample.name == name and all(
            sample.labels.get(k) == v for k, v in labels.items()
        ):
            return sample.value
    return None


def test_requests_are_counted_by_route_pattern_never_by_path(
    client: FlaskClient, demo: Demo
) -> None:
    token = demo.passes[0].card_token
    before = scrape(client)
    start = value(
        before.get("wallet_http_requests", []),
        "wallet_http_requests_total",
        route="/c/<card_token>",
        method="GET",
        status="200",
    )
    for _ in range(3):
        assert client.get(f"/c/{token}").status_code == 200
    client.get("/no/such/page")
    response = client.get("/metrics")
    text = response.get_data(as_text=True)
    assert token not in text
    families = {f.name: f.samples for f in text_string_to_metric_families(text)}
    requests = families["wallet_http_requests"]
    assert (
        value(
            requests,
            "wallet_http_requests_total",
            route="/c/<card_token>",
            method="GET",
            status="200",
        )
        == (start or 0) + 3
    )
    assert value(
        requests, "wallet_http_requests_total", route="(no route)", status="404"
    )
    durations = families["wallet_http_request_duration_seconds"]
    assert (
        value(
            durations,
            "wallet_http_request_duration_seconds_count",
            route="/c/<card_token>",
            method="GET",
        )
        or 0
    ) >= 3


def test_outbox_gauges_come_from_the_push_delivery_table(
    app: Flask, client: FlaskClient
) -> None:
    now = utcnow()
    with app.app_context():
        for index, (channel, status, age) in enumerate(
            [
                ("apns", "queued", 120),
                ("apns", "queued", 30),
                ("apns", "sent", 600),
                ("android", "queued", 10),
                ("apns", "failed", 900),
            ]
        ):
            db.session.add(
                PushDelivery(
                    channel=channel,
                    status=status,
                    topic="pass.test.wallet.loyalty",
                    push_token=f"token{index}",
                    pending_key=f"{channel}:t:{index}" if status == "queued" else None,
                    created_at=now - timedelta(seconds=age),
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
        db.session.commit()
    metrics = scrape(client)
    assert value(metrics["wallet_outbox_up"], "wallet_outbox_up") == 1
    deliveries = metrics["wallet_push_deliveries"]
    assert (
        value(deliveries, "wallet_push_deliveries", channel="apns", status="queued")
        == 2
    )
    assert (
        value(deliveries, "wallet_push_deliveries", channel="apns", status="sent") == 1
    )
    assert (
        value(deliveries, "wallet_push_deliveries", channel="apns", status="failed")
        == 1
    )
    depth = metrics["wallet_push_queue_depth"]
    assert value(depth, "wallet_push_queue_depth", channel="apns") == 2
    assert value(depth, "wallet_push_queue_depth", channel="android") == 1
    oldest = value(
        metrics["wallet_push_oldest_queued_age_seconds"],
        "wallet_push_oldest_queued_age_seconds",
    )
    # The queued row made 120 s ago is the oldest (the failed one is not queued).
    assert oldest is not None
    assert 120 <= oldest < 900


def test_empty_outbox_reports_zero_age(client: FlaskClient) -> None:
    metrics = scrape(client)
    assert (
        value(
            metrics["wallet_push_oldest_queued_age_seconds"],
            "wallet_push_oldest_queued_age_seconds",
        )
        == 0
    )


def test_unreadable_database_still_answers_with_outbox_down(
    pki_dir: Path, tmp_path: Path
) -> None:
    from app import create_app
    from tests.conftest import base_config

    missing = tmp_path / "missing" / "db.sqlite3"
    app = create_app(
        {**base_config(pki_dir), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{missing}"}
    )
    metrics = scrape(app.test_client())
    assert value(metrics["wallet_outbox_up"], "wallet_outbox_up") == 0
    with app.app_context():
        db.engine.dispose()


def test_metrics_token_is_required_when_set(app: Flask, client: FlaskClient) -> None:
    app.config["METRICS_TOKEN"] = "s3cret-metrics-token"
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    assert wrong.get_json()["error"] == "unauthorized"
    scrape(client, Authorization="Bearer s3cret-metrics-token")


SCRIPT = """
import sys
from app import create_app
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "TESTING": True})
client = app.test_client()
for _ in range(int(sys.argv[2])):
    assert client.get("/healthz").status_code == 200
if sys.argv[3] == "scrape":
    sys.stdout.write(client.get("/metrics").get_data(as_text=True))
"""


def test_multiprocess_mode_adds_up_every_process(
    database_url: str, tmp_path: Path
) -> None:
    """Separate processes sharing PROMETHEUS_MULTIPROC_DIR: any of them reports
    the sum (as with several gunicorn workers)."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}

    def run(count: int, scrape_too: bool) -> str:
        return subprocess.run(
            [sys.executable, "-c", SCRIPT, database_url, str(count),
             "scrape" if scrape_too else "-"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip

    run(3, False)
    run(4, False)
    text = run(2, True)
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert (
        value(
            samples,
            "wallet_http_requests_total",
            route="/healthz",
            method="GET",
            status="200",
        )
        == 9
    )
