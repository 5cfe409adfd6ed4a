"""Production gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app`.

Environment: PORT or BIND, WEB_CONCURRENCY (processes), THREADS (per process),
FORWARDED_ALLOW_IPS (proxies whose X-Forwarded-* headers gunicorn trusts).
"""

import multiprocessing
import os

bind = os.environ.get("BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# One process per core: the work is CPU (a purchase is ~3 ms of it), and on 2
# cores 2 processes x 4 threads served more POS purchases than 3 or 4 processes
# (docs/performance.md, "POS"). Threads let database waits overlap; signing a
# pass is ~1 ms of CPU.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "4"))
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle processes now and then, staggered, against slow leaks. Rarely: each
# boot re-imports the app (1-2 s of CPU) and leaves the others serving alone; at
# 5,000 a device herd or a busy hour of tills restarted a process every minute.
max_requests = 100_000
max_requests_jitter = 10_000
# No gunicorn access log: request paths carry card tokens and serials. The app
# logs each request by its route pattern instead (app/security.py).
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 4094
limit_request_field_size = 8190


def _refuse_unsafe_settings():  # noqa: ANN202
    """Production (https PUBLIC_BASE_URL) with unsafe settings: one line from the
    master and exit, before any worker starts (each worker would refuse too)."""
    import sys

    from app import config

    problems = config.production_problems(config.from_environment())
    if problems:
        print(config.UnsafeSettings(problems), file=sys.stderr, flush=True)
        sys.exit(4)


# Prometheus multiprocess mode (app/ops/metrics.py): with PROMETHEUS_MULTIPROC_DIR
# set, every process writes its metrics to files there. Stale files from an earlier
# run would be counted again, so the directory is emptied when the master starts.
def on_starting(server):  # noqa: ANN001, ARG001
    _refuse_unsafe_settings()
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def child_exit(server, worker):  # noqa: ANN001, ARG001
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):  # noqa: ANN001, ARG001
    """The app is loaded in this worker: keep the collector off its long-lived
    objects (modules, the app, compiled statements) and run it less often. Full
    collections over them were pauses of tens of ms in the tills' p99 under load
    (docs/performance.md, "POS"); the push worker does the same."""
    import gc

    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
