"""Sockets and transports are closed by their owners, not by the garbage collector:
a ResourceWarning from a collected socket lands in whichever test runs when the
collector does, so each owner is checked here on its own. (requests/urllib3 pools
close their sockets in a finalizer, so they never warn.)"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from app.push.apns import ApnsClient, client_ssl_context
from tests.support.apns_server import ApnsStandIn
from tests.support.push import TOPIC, start_apns

T = TypeVar("T")


@contextmanager
def no_resource_warnings() -> Iterator[None]:
    """Fail if anything left for the collector warns when it is collected."""
    gc.collect()  # what earlier tests left is not ours
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    leaked = [str(w.message) for w in caught if w.category is ResourceWarning]
    assert leaked == []


def _client(pki_dir: Path, url: str) -> ApnsClient:
    context = client_ssl_context(
        str(pki_dir / "ca.pem"), str(pki_dir / "pass.pem"), str(pki_dir / "pass.key")
    )
    return ApnsClient(url, context)


def _in_a_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run away from the main thread (where Playwright's session-wide
    loop may be running)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_stopping_the_apns_stand_in_closes_its_connections(pki_dir: Path) -> None:
    with no_resource_warnings():
        server = start_apns(pki_dir, "certificate")

        async def scenario(server: ApnsStandIn) -> int:
            client = _client(pki_dir, server.url)
            status = (await client.send("ab" * 32, TOPIC)).status
            # The server goes first, with the client's connection still open.
            server.stop()
            await client.close()
            return status

        assert _in_a_thread(scenario(server)) == 200
        del server


def test_a_connection_that_never_became_ready_is_closed(pki_dir: Path) -> None:
    """The app's own client: when the server accepts TLS but never sends its
    HTTP/2 SETTINGS, the connect timeout closes the half-made connection (it was
    never handed out, so nobody else would)."""
    server = start_apns(pki_dir, "certificate")
    server.silent = True
    try:

        async def scenario() -> str:
            client = _client(pki_dir, server.url)
            client.connect_timeout = 0.5
            result = await client.send("ab" * 32, TOPIC)
            await client.close()
            return result.reason or ""

        with no_resource_warnings():
            # The server keeps its side open: only the client can close this one.
            assert "connect failed" in _in_a_thread(scenario())
    finally:
        server.stop()
