"""An APNs HTTP/2 client on asyncio + h2: long-lived connections, many streams.

Why h2 directly (see docs/architecture.md, "Push"): a pass push is a 2-byte POST
whose answer is a status and maybe a reason, so the per-request cost of a
general-purpose client (request/response objects, per-request locks and tasks)
would dominate. Here one asyncio protocol per connection writes every new stream
into the socket buffer and flushes once per event-loop turn, so thousands of
requests are in flight on one connection without a task or thread each.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jwt
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import ProtocolError

log = logging.getLogger(__name__)

BODY = b"{}"  # Apple: an empty JSON dictionary is the whole payload of a pass push.
CONNECTION_LOST = 0  # pseudo status: the answer never came (retry)


@dataclass(frozen=True)
class ApnsResult:
    status: int
    reason: str | None = None

    def describe(self) -> str:
        if self.status == CONNECTION_LOST:
            return self.reason or "connection lost"
        return f"{self.status} {self.reason or ''}".strip()


class TokenAuth:
    """Provider tokens (ES256 JWT); one is reused until it is `lifetime` seconds old.

    Apple: refresh no more often than every 20 minutes and at least every 60.
    """

    def __init__(
        self,
        key_pem: bytes,
        key_id: str,
        team_id: str,
        *,
        lifetime: float = 50 * 60,
        clock: collections.abc.Callable[[], float] = time.time,
    ) -> None:
        if not 20 * 60 <= lifetime <= 60 * 60:
            raise ValueError("APNs provider tokens must live 20 to 60 minutes")
        self._key = key_pem
        self.key_id, self.team_id = key_id, team_id
        self.lifetime = lifetime
        self._clock = clock
        self._header = ""
        self._issued = 0.0
        self.minted = 0

    def header(self) -> str:
        """The `authorization` header value, minting a new token when due."""
        now = self._clock()
        if not self._header or now - self._issued >= self.lifetime:
            self._mint(now)
        return self._header

    def renew(self, stale: str) -> None:
        """APNs said ExpiredProviderToken for `stale`: mint once, not per stream."""
        if stale == self._header:
            self._mint(self._clock())

    def _mint(self, now: float) -> None:
        token = jwt.encode(
            {"iss": self.team_id, "iat": int(now)},
            self._key,
            algorithm="ES256",
            headers={"kid": self.key_id},
        )
        self._header, self._issued = f"bearer {token}", now
        self.minted += 1


def client_ssl_context(
    ca_file: str | None,
    cert_file: str | None = None,
    key_file: str | None = None,
    key_password: str | None = None,
) -> ssl.SSLContext:
    """TLS for APNs: system roots (+ `ca_file` for a stand-in), ALPN h2, client cert."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    if cert_file:
        context.load_cert_chain(cert_file, key_file, password=key_password)
    return context


class _H2(H2Connection):
    """h2's connection, counting open streams less often.

    h2 counts the open streams by walking all of them before every new stream
    (dropping the closed ones as it goes): with hundreds in flight that walk was
    ~5 % of a push's client CPU. `_Connection` keeps its own count and cap, so
    the walk runs only every `WALK_EVERY` new streams, to drop the closed ones.
    """

    WALK_EVERY = 64

    def __init__(self, config: H2Configuration) -> None:
        super().__init__(config)
        self.in_flight = 0  # set by _Connection before each new stream
        self._new_streams = 0

    @property
    def open_outbound_streams(self) -> int:
        self._new_streams += 1
        if self._new_streams % self.WALK_EVERY == 0:
            return super().open_outbound_streams
        return self.in_flight


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection: streams map to futures; writes flush once per turn."""

    def __init__(
        self,
        authority: str,
        streams: int,
        on_close: collections.abc.Callable[[_Connection], None],
    ) -> None:
        self.authority = authority
        self.streams = streams
        # Our request headers are fixed and known-good: skip h2's per-request
        # validation and normalisation (measured: ~10% of the client's CPU). Of
        # the answer only :status is read (and a JSON body): h2's checks of the
        # answer's header names and values were another ~6%.
        self.h2 = _H2(
            H2Configuration(
                client_side=True,
                header_encoding=None,
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
                validate_inbound_headers=False,
            )
        )
        # Each :path holds a new token: Huffman-coding it costs more CPU than the
        # ~20 bytes it saves on loopback-fast links (about 12% of the client's CPU).
        self.h2.encoder.encode = functools.partial(  # type: ignore[method-assign]
            self.h2.encoder.encode, huffman=False
        )
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = self.loop.create_future()
        self.lost: asyncio.Future[None] = self.loop.create_future()
        # stream id -> (answer future, status, body so far)
        self.responses: dict[int, tuple[asyncio.Future[ApnsResult], int, bytearray]]
        self.responses = {}
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.closed = False
        self.error = "connection lost"
        self._flush_pending = False
        self._on_close = on_close

    # -- asyncio callbacks ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() != "h2":
            self.error = "server did not agree to HTTP/2 (ALPN)"
            transport.abort()
            return
        self.h2.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as exc:
            self.error = f"HTTP/2 protocol error: {exc}"
            assert self.transport is not None
            self.transport.abort()
            return
        for event in events:
            if isinstance(event, RemoteSettingsChanged):
                if not self.ready.done():
                    self.ready.set_result(None)
                self._wake()
            elif isinstance(event, ResponseReceived):
                entry = self.responses.get(event.stream_id)
                if entry is not None:
                    status = dict(event.headers).get(b":status", b"0")
                    self.responses[event.stream_id] = (entry[0], int(status), entry[2])
            elif isinstance(event, DataReceived):
                entry = self.responses.get(event.stream_id)
                if entry is not None:
                    entry[2].extend(event.data)
                self.h2.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
            elif isinstance(event, StreamEnded):
                self._finish(event.stream_id)
            elif isinstance(event, StreamReset):
                self._fail_stream(event.stream_id, f"stream reset ({event.error_code})")
            elif isinstance(event, WindowUpdated):
                self._wake()
            elif isinstance(event, ConnectionTerminated):
                # GOAWAY: streams above last_stream_id were never processed.
                reason = _reason(event.additional_data or b"") or str(event.error_code)
                self.error = f"GOAWAY {reason}"
                self.closed = True
                last = event.last_stream_id or 0
                for stream_id in [s for s in self.responses if s > last]:
                    self._fail_stream(stream_id, self.error)
                self._wake()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.error == "connection lost":
            self.error = f"connection lost: {exc}"
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(self.error))
        for stream_id in list(self.responses):
            self._fail_stream(stream_id, self.error)
        self._wake()
        if not self.lost.done():
            self.lost.set_result(None)
        self._on_close(self)

    # -- requests ------------------------------------------------------------
    async def request(self, path: str, headers: list[tuple[str, str]]) -> ApnsResult:
        await self.slot()
        return await self.start(path, headers)

    async def slot(self) -> None:
        """Wait until a new stream may open (raises _NotSent once closed)."""
        while True:
            if self.closed:
                raise _NotSent(self.error)
            # h2 counts open streams by walking them all, so keep our own count
            # (a stream is open until its answer ends) and our own, lower cap.
            limit = min(self.h2.remote_settings.max_concurrent_streams, self.streams)
            if len(self.responses) < limit and self._window_ok():
                return
            waiter = self.loop.create_future()
            self.waiters.append(waiter)
            await waiter

    def start(
        self, path: str, headers: list[tuple[str, str]]
    ) -> asyncio.Future[ApnsResult]:
        """Open a stream for one push (right after `slot()`); its answer's future."""
        self.h2.in_flight = len(self.responses)
        stream_id = self.h2.get_next_available_stream_id()
        future: asyncio.Future[ApnsResult] = self.loop.create_future()
        self.responses[stream_id] = (future, 0, bytearray())
        self.h2.send_headers(
            stream_id,
            [
                (":method", "POST"),
                (":scheme", "https"),
                (":authority", self.authority),
                (":path", path),
                *headers,
                ("content-length", str(len(BODY))),
            ],
        )
        self.h2.send_data(stream_id, BODY, end_stream=True)
        self._schedule_flush()
        return future

    def _window_ok(self) -> bool:
        # Only the connection window can be short: each new stream has its own.
        return self.h2.outbound_flow_control_window >= len(BODY)

    def _finish(self, stream_id: int) -> None:
        entry = self.responses.pop(stream_id, None)
        if entry is None:
            return
        future, status, body = entry
        if not future.done():
            future.set_result(ApnsResult(status, _reason(bytes(body))))
        self._wake_one()  # one stream slot freed: one waiter may use it

    def _fail_stream(self, stream_id: int, reason: str) -> None:
        entry = self.responses.pop(stream_id, None)
        if entry is not None and not entry[0].done():
            entry[0].set_result(ApnsResult(CONNECTION_LOST, reason))
        self._wake()

    def _wake_one(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake(self) -> None:
        """Wake every waiter (closed connection, new settings, more window)."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _schedule_flush(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def close(self, timeout: float = 2.0) -> None:
        """GOAWAY, TLS close_notify, and wait until the socket is really closed."""
        if self.transport is None or self.lost.done():
            return
        if not self.closed:
            self.closed = True
            with contextlib.suppress(ProtocolError):
                self.h2.close_connection()
                self._flush()
        # Also after the server's GOAWAY (closed, but the socket is still open).
        if not self.transport.is_closing():
            self.transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), timeout)
        except TimeoutError:
            self.transport.abort()


class _NotSent(ConnectionError):
    """The connection closed before this request was written: safe to resend."""


def _reason(body: bytes) -> str | None:
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:100].decode(errors="replace")
    return str(parsed.get("reason")) if isinstance(parsed, dict) else None


class ApnsClient:
    """Sends pass pushes over `connections` long-lived HTTP/2 connections."""

    def __init__(
        self,
        url: str,
        ssl_context: ssl.SSLContext,
        auth: TokenAuth | None = None,
        *,
        connections: int = 1,
        streams: int = 250,
        connect_timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"APNS_URL must be an https URL, not {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 443
        self.authority = self.host if self.port == 443 else f"{self.host}:{self.port}"
        self.ssl_context = ssl_context
        self.auth = auth
        self.size = max(1, connections)
        self.streams = max(1, streams)
        self.connect_timeout = connect_timeout
        self._connections: list[_Connection] = []  # usable for new streams
        self._sockets: set[_Connection] = set()  # every connection not yet lost
        self._connecting: asyncio.Lock | None = None
        self._next = 0
        self.connects = 0

    async def send(self, token: str, topic: str) -> ApnsResult:
        """POST one pass push.

        `ExpiredProviderToken` gets one resend with a new JWT; a request that never
        left a closing connection (GOAWAY) gets one resend on a fresh connection.
        """
        result = ApnsResult(CONNECTION_LOST, "not sent")
        for _ in range(3):
            headers, authorization = self._headers(topic)
            try:
                connection = await self._connection()
            except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as exc:
                return ApnsResult(CONNECTION_LOST, f"connect failed: {exc}")
            try:
                result = await connection.request(f"/3/device/{token}", headers)
            except _NotSent as exc:
                result = ApnsResult(CONNECTION_LOST, str(exc))
                continue
            if self._renewed(result, authorization):
                continue
            return result
        return result

    def _headers(self, topic: str) -> tuple[list[tuple[str, str]], str | None]:
        """A push's headers, and the provider token in them (token auth)."""
        headers = [("apns-topic", topic)]
        authorization = self.auth.header() if self.auth else None
        if authorization:
            headers.append(("authorization", authorization))
        return headers, authorization

    def _renewed(self, result: ApnsResult, authorization: str | None) -> bool:
        """Whether `result` was an expired provider token, now renewed (the push
        is then sent again)."""
        if (
            result.status == 403
            and result.reason == "ExpiredProviderToken"
            and self.auth is not None
            and authorization is not None
        ):
            self.auth.renew(authorization)
            return True
        return False

    async def send_many(self, pushes: list[tuple[str, str]]) -> list[ApnsResult]:
        """POST many pass pushes ((token, topic) each), answers in order.

        One coroutine opens every stream as slots free up and then collects the
        answers, instead of a task per push (tasks were ~25 % of a push's client
        CPU, docs/performance.md). The rare push that needs sending again (its
        connection closed before it was written, or an expired provider token)
        goes through `send`, which resends as described there.
        """
        pending: list[asyncio.Future[ApnsResult] | ApnsResult | None] = []
        used: list[str | None] = []
        for token, topic in pushes:
            headers, authorization = self._headers(topic)
            used.append(authorization)
            try:
                connection = await self._connection()
                await connection.slot()
            except _NotSent:
                pending.append(None)  # resent below, on a fresh connection
                continue
            except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as exc:
                pending.append(ApnsResult(CONNECTION_LOST, f"connect failed: {exc}"))
                continue
            pending.append(connection.start(f"/3/device/{token}", headers))
        results: list[ApnsResult] = []
        again: list[int] = []
        for index, item in enumerate(pending):
            result = await item if isinstance(item, asyncio.Future) else item
            if result is None or self._renewed(result, used[index]):
                again.append(index)
            results.append(result or ApnsResult(CONNECTION_LOST, "not sent"))
        if again:
            resent = await asyncio.gather(*(self.send(*pushes[i]) for i in again))
            for index, result in zip(again, resent, strict=True):
                results[index] = result
        return results

    async def _connection(self) -> _Connection:
        """A live connection, round robin; opens one while fewer than `size`."""
        live = self._live()
        if len(live) >= self.size:
            self._next = (self._next + 1) % len(live)
            return live[self._next]
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            live = self._live()
            if len(live) < self.size:
                connection = await self._open()
                self._connections.append(connection)
                return connection
            return live[self._next % len(live)]

    def _live(self) -> list[_Connection]:
        self._connections = [c for c in self._connections if not c.closed]
        return self._connections

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, protocol = await loop.create_connection(
                lambda: _Connection(self.authority, self.streams, self._closed),
                self.host,
                self.port,
                ssl=self.ssl_context,
                server_hostname=self.host,
            )
            try:
                await protocol.ready  # the server's SETTINGS (its stream limit)
            except BaseException:
                # Never handed out, so nobody else would close it (a timeout, or
                # the server went away mid-handshake): close it here, not in GC.
                if protocol.transport is not None:
                    protocol.transport.abort()
                raise
        self.connects += 1
        self._sockets.add(protocol)
        log.info("apns connected to %s", self.authority)
        return protocol

    def _closed(self, connection: _Connection) -> None:
        self._sockets.discard(connection)
        if connection in self._connections:
            self._connections.remove(connection)
            log.info("apns connection closed: %s", connection.error)

    async def close(self) -> None:
        self._connections = []
        await asyncio.gather(*(c.close() for c in list(self._sockets)))


def load_token_auth(
    key_file: str, key_id: str | None, team_id: str, lifetime: float = 50 * 60
) -> TokenAuth:
    """Token auth from a .p8 file; the key id may sit next to it (dev-certs)."""
    path = Path(key_file)
    if not key_id:
        sidecar = path.with_name("apns-key-id.txt")
        key_id = sidecar.read_text().strip() if sidecar.is_file() else ""
    if not key_id:
        raise ValueError("APNS_KEY_ID is not set")
    return TokenAuth(path.read_bytes(), key_id, team_id, lifetime=lifetime)
