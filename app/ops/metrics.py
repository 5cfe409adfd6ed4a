"""Prometheus metrics: HTTP requests and durations by route pattern, and the push
outbox (deliveries by channel and status, queue depth, oldest queued age) read from
the `push_delivery` table at scrape time.

Several processes (gunicorn): set PROMETHEUS_MULTIPROC_DIR to an empty directory
writable by every process before they start; each process then writes its counters
there and a scrape from any process adds them up (prometheus_client's multiprocess
mode; gunicorn.conf.py clears the directory at start and marks exited workers dead).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterator

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.errors import json_error
from app.extensions import db
from app.models import PushDelivery
from app.models.base import utcnow
from app.models.push import QUEUED

log = logging.getLogger(__name__)

# Methods outside this set (fuzzers, scanners) share one label value.
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

REQUESTS = Counter(
    "wallet_http_requests",
    "HTTP requests by route pattern, method and status.",
    ["route", "method", "status"],
)
DURATION = Histogram(
    "wallet_http_request_duration_seconds",
    "Time to answer HTTP requests, by route pattern.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def _labels() -> tuple[str, str]:
    # The route pattern, never the path: paths carry card tokens and serials,
    # and one label value per card would also explode the series count.
    route = request.url_rule.rule if request.url_rule else "(no route)"
    method = request.method if request.method in _METHODS else "other"
    return route, method


def register_metrics(app: Flask) -> None:
    @app.before_request
    def start_metrics_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def count_request(response: Response) -> Response:
        started = g.get("metrics_started")
        route, method = _labels()
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        if started is not None:
            DURATION.labels(route, method).observe(time.perf_counter() - started)
        return response


class OutboxCollector(Collector):
    """Push outbox gauges, computed from the database when scraped."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "wallet_outbox_up", "1 if the outbox could be read for this scrape."
        )
        try:
            counts = db.session.execute(
                select(PushDelivery.channel, PushDelivery.status, func.count())
                .group_by(PushDelivery.channel, PushDelivery.status)
                .order_by(PushDelivery.channel, PushDelivery.status)
            ).all()
            oldest = db.session.scalar(
                select(func.min(PushDelivery.created_at)).where(
                    PushDelivery.status == QUEUED
                )
            )
            db.session.rollback()  # read-only; end the transaction
        except SQLAlchemyError as error:
            db.session.rollback()
            log.warning("metrics: outbox unreadable: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        deliveries = GaugeMetricFamily(
            "wallet_push_deliveries",
            "Push deliveries in the outbox by channel and status "
            "(sent/failed/dropped rows are the delivery record).",
            labels=["channel", "status"],
        )
        depth: dict[str, int] = {}
        for channel, status, count in counts:
            deliveries.add_metric([channel, status], count)
            if status == QUEUED:
                depth[channel] = count
        yield deliveries
        queued = GaugeMetricFamily(
            "wallet_push_queue_depth",
            "Deliveries waiting to be sent, by channel.",
            labels=["channel"],
        )
        for channel, count in sorted(depth.items()):
            queued.add_metric([channel], count)
        yield queued
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "wallet_push_oldest_queued_age_seconds",
            "Age of the oldest queued delivery (0 when the queue is empty).",
            value=max(0.0, age),
        )


class _DefaultRegistry(Collector):
    """This process's metrics (requests, plus process and GC figures)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition() -> bytes:
    """The metrics text for this scrape (all processes in multiprocess mode)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistry())
    registry.register(OutboxCollector())
    return generate_latest(registry)


def metrics_response(authorization: str | None) -> Response:
    """200 with the metrics; 401 when METRICS_TOKEN is set and not presented."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            response = json_error(401, "unauthorized", "A metrics token is required.")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST)
