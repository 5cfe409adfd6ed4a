"""Serve a Flask app on a loopback port in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from werkzeug.serving import make_server


def _buffered(app: Any) -> Any:
    """Read each response whole and close it before werkzeug writes it.

    A browser that drops a connection mid-response (a page navigating away while a
    script still downloads) makes werkzeug's development server skip closing the
    response, and the open static file then fails the test as a ResourceWarning.
    Responses here are small; buffering them makes that leak impossible.
    """

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = app(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()

    return wsgi


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, _buffered(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
