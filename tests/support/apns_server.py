"""A local stand-in for APNs: real TLS, real HTTP/2 (the `h2` library).

It checks what Apple checks for pass pushes (path, `apns-topic`, a JSON object body,
the provider JWT in token mode or the client certificate in certificate mode) and can
be told to answer 400/410/429/500 or drop the connection for chosen device tokens.
Run it in a thread (`ApnsStandIn(...).start()`) for tests, or as a process
(`python -m tests.support.apns_server --help`) for benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import signal
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
)
from h2.settings import SettingCodes, Settings

_TOKEN = re.compile(r"^[0-9a-fA-F]{16,200}$")
_PATH = re.compile(r"^/3/device/([^/]+)$")
REASONS = {
    400: "BadDeviceToken",
    403: "Forbidden",
    410: "Unregistered",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


@dataclass
class Push:
    token: str
    topic: str
    headers: dict[str, str]
    body: bytes
    status: int
    reason: str | None
    connection: int
    # Who sent it: the client certificate's UID, or the provider token's team.
    identity: str | None = None


@dataclass(frozen=True)
class _Topic:
    """What a topic's pushes must authenticate with in token mode."""

    public_key: object | None = None
    team_id: str | None = None
    key_id: str | None = None


@dataclass
class Behaviour:
    """Answers to give a token, one per request, before answering 200."""

    answers: collections.deque[int | str] = field(default_factory=collections.deque)


class ApnsStandIn:
    """APNs over TLS + HTTP/2 on 127.0.0.1.

    :param topic: the pass type identifier every request must carry.
    :param client_ca_file: certificate mode: require a client certificate issued by
        this CA (several files joined with os.pathsep) whose subject UID is the topic.
    :param token_key_pem: token mode: the .p8 key (its public half verifies JWTs).

    `allow()` adds more topics (brands), each with its own team key in token mode;
    in certificate mode a topic's pushes need a client certificate for that topic.
    """

    def __init__(
        self,
        cert_file: str,
        key_file: str,
        topic: str,
        *,
        client_ca_file: str | None = None,
        token_key_pem: bytes | None = None,
        team_id: str | None = None,
        key_id: str | None = None,
        port: int = 0,
        max_streams: int = 1000,
        delay: float = 0.0,
    ) -> None:
        self.topic = topic
        self.cert_file, self.key_file = cert_file, key_file
        self.client_ca_file = client_ca_file
        self.team_id, self.key_id = team_id, key_id
        self.public_key = None
        if token_key_pem is not None:
            key = serialization.load_pem_private_key(token_key_pem, None)
            self.public_key = key.public_key()
        self.topics = {topic: _Topic(self.public_key, team_id, key_id)}
        self.requested_port = port
        self.max_streams = max_streams
        self.delay = delay  # seconds before each answer: a network round trip
        self.port = 0
        self.pushes: list[Push] = []
        self.status_counts: collections.Counter[int] = collections.Counter()
        self.connections = 0
        # Requests received and not yet answered, and the most seen at once: more
        # than one means the client pipelines streams instead of awaiting each.
        self.open_requests = 0
        self.max_open_requests = 0
        self.behaviours: dict[str, Behaviour] = {}
        self.token_lifetime = 3600
        # Accept TLS but never speak HTTP/2 (a hung server: connect timeouts).
        self.silent = False
        self._verified_jwts: dict[tuple[str, str], float] = {}
        self._issuers: dict[str, str] = {}  # verified provider token -> team
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._transports: set[asyncio.Transport] = set()

    # -- control -------------------------------------------------------------
    def allow(
        self,
        topic: str,
        *,
        token_key_pem: bytes | None = None,
        team_id: str | None = None,
        key_id: str | None = None,
    ) -> None:
        """Accept another topic; in token mode, only with that team's key."""
        public_key = None
        if token_key_pem is not None:
            key = serialization.load_pem_private_key(token_key_pem, None)
            public_key = key.public_key()
        self.topics[topic] = _Topic(public_key, team_id, key_id)

    def answer(self, token: str, *answers: int | str) -> None:
        """Queue answers for a token: a status (410, or "403:ExpiredProviderToken"
        to pick the reason), or "drop" to cut the connection."""
        with self._lock:
            self.behaviours.setdefault(token, Behaviour()).answers.extend(answers)

    def delivered(self) -> collections.Counter[str]:
        """How many 200s each token got."""
        with self._lock:
            return collections.Counter(p.token for p in self.pushes if p.status == 200)

    def reset(self) -> None:
        with self._lock:
            self.pushes.clear()
            self.status_counts.clear()
            self.behaviours.clear()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        context.set_alpn_protocols(["h2"])
        if self.client_ca_file:
            context.verify_mode = ssl.CERT_REQUIRED
            # The pass certificate is issued by WWDR under the root: trust both,
            # as APNs does (clients send only their own certificate).
            for ca_file in self.client_ca_file.split(os.pathsep):
                context.load_verify_locations(ca_file)
        return context

    async def serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            lambda: _Connection(self),
            "127.0.0.1",
            self.requested_port,
            ssl=self.ssl_context(),
            backlog=512,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> ApnsStandIn:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.serve())
                ready.set()
                loop.run_forever()
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="apns-stand-in")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("APNs stand-in did not start")
        return self

    def drop_all_connections(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(
            lambda: [t.abort() for t in list(self._transports)]
        )

    async def _shutdown(self) -> None:
        """Close the listener and every connection, and let the loop finish them:
        an aborted transport closes its socket only in a later loop turn, and a
        loop stopped before that leaves both to the garbage collector (the
        ResourceWarnings that used to land in whichever test came next)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for transport in list(self._transports):
            transport.abort()
        for _ in range(1000):
            if not self._transports:
                break
            await asyncio.sleep(0.001)
        # The socket transports under the TLS ones close one turn later still.
        for _ in range(3):
            await asyncio.sleep(0)

    def stop(self) -> None:
        if self._loop is None:
            return
        loop, self._loop = self._loop, None
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- checks --------------------------------------------------------------
    def check_request(
        self, headers: dict[str, str], body: bytes, peer_uid: str | None
    ) -> tuple[int, str | None]:
        match = _PATH.match(headers.get(":path", ""))
        if headers.get(":method") != "POST":
            return 405, "MethodNotAllowed"
        if match is None:
            return 404, "BadPath"
        if not _TOKEN.match(match.group(1)):
            return 400, "BadDeviceToken"
        topic = headers.get("apns-topic")
        if not topic:
            return 400, "MissingTopic"
        if topic not in self.topics:
            return 400, "DeviceTokenNotForTopic"
        if not body:
            return 400, "PayloadEmpty"
        try:
            if not isinstance(json.loads(body), dict):
                return 400, "BadPayload"
        except ValueError:
            return 400, "BadPayload"
        if self.public_key is not None:
            problem = self._check_jwt(headers.get("authorization", ""), topic)
            if problem:
                return 403, problem
        elif self.client_ca_file and peer_uid != topic:
            return 403, "BadCertificate"
        return 200, None

    def _check_jwt(self, authorization: str, topic: str) -> str | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "MissingProviderToken"
        expected = self.topics[topic]
        issued = self._verified_jwts.get((token, topic))
        if issued is None:
            try:
                header = jwt.get_unverified_header(token)
                claims = jwt.decode(
                    token,
                    expected.public_key,  # type: ignore[arg-type]
                    algorithms=["ES256"],
                    options={"verify_exp": False, "require": ["iss", "iat"]},
                )
            except jwt.PyJWTError:
                return "InvalidProviderToken"
            if header.get("kid") != expected.key_id:
                return "InvalidProviderToken"
            if claims.get("iss") != expected.team_id:
                return "InvalidProviderToken"
            issued = float(claims["iat"])
            self._verified_jwts[(token, topic)] = issued
            self._issuers[token] = str(claims["iss"])
        if time.time() - issued > self.token_lifetime:
            return "ExpiredProviderToken"
        return None


class _Connection(asyncio.Protocol):
    def __init__(self, server: ApnsStandIn) -> None:
        self.server = server
        self.conn = H2Connection(H2Configuration(client_side=False))
        self.streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.transport: asyncio.Transport | None = None
        self.peer_uid: str | None = None
        self.number = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._transports.add(transport)
        with self.server._lock:
            self.server.connections += 1
            self.number = self.server.connections
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        if der:
            cert = x509.load_der_x509_certificate(der)
            uids = cert.subject.get_attributes_for_oid(NameOID.USER_ID)
            self.peer_uid = str(uids[0].value) if uids else None
        if self.server.silent:
            return
        # Advertise our stream limit in the first SETTINGS frame (a plain dict
        # here would replace h2's Settings object and break the connection).
        limit = {SettingCodes.MAX_CONCURRENT_STREAMS: self.server.max_streams}
        self.conn.local_settings = Settings(client=False, initial_values=limit)
        self.conn.initiate_connection()
        transport.write(self.conn.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.server._transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        try:
            events = self.conn.receive_data(data)
        except Exception:  # noqa: BLE001 - a broken client: drop it like APNs would
            self.transport.abort()
            return
        for event in events:
            if isinstance(event, RequestReceived):
                headers = {
                    (k.decode() if isinstance(k, bytes) else k): (
                        v.decode() if isinstance(v, bytes) else v
                    )
                    for k, v in event.headers
                }
                self.streams[event.stream_id] = (headers, bytearray())
                server = self.server
                server.open_requests += 1
                server.max_open_requests = max(
                    server.max_open_requests, server.open_requests
                )
            elif isinstance(event, DataReceived):
                if event.stream_id in self.streams:
                    self.streams[event.stream_id][1].extend(event.data)
                self.conn.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
            elif isinstance(event, StreamEnded):
                if not self._respond(event.stream_id):
                    return
            elif isinstance(event, StreamReset):
                if self.streams.pop(event.stream_id, None) is not None:
                    self.server.open_requests -= 1
            elif isinstance(event, ConnectionTerminated):
                self.transport.close()
                return
        self.transport.write(self.conn.data_to_send())

    def _respond(self, stream_id: int) -> bool:
        headers, body = self.streams.pop(stream_id)
        server = self.server
        status, reason = server.check_request(headers, bytes(body), self.peer_uid)
        token = _PATH.match(headers.get(":path", ""))
        token_text = token.group(1) if token else ""
        if status == 200:
            with server._lock:
                behaviour = server.behaviours.get(token_text)
                planned = None
                if behaviour is not None and behaviour.answers:
                    planned = behaviour.answers.popleft()
            if planned == "drop":
                server.open_requests -= 1
                assert self.transport is not None
                self.transport.abort()
                return False
            if planned is not None:
                code, _, named = str(planned).partition(":")
                status = int(code)
                reason = named or REASONS.get(status, "Error")
        with server._lock:
            server.status_counts[status] += 1
            server.pushes.append(
                Push(
                    token_text,
                    headers.get("apns-topic", ""),
                    headers,
                    bytes(body),
                    status,
                    reason,
                    self.number,
                    self._identity(headers),
                )
            )
        if server.delay:
            # A simulated network round trip: answer later, without blocking others.
            assert self.transport is not None
            loop = asyncio.get_running_loop()
            loop.call_later(server.delay, self._answer_later, stream_id, status, reason)
        else:
            self._answer(stream_id, status, reason)
        return True

    def _identity(self, headers: dict[str, str]) -> str | None:
        if self.peer_uid is not None:
            return self.peer_uid
        _, _, token = headers.get("authorization", "").partition(" ")
        return self.server._issuers.get(token)

    def _answer_later(self, stream_id: int, status: int, reason: str | None) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            self._answer(stream_id, status, reason)
        except Exception:  # noqa: BLE001 - the stream or connection went away
            return
        self.transport.write(self.conn.data_to_send())

    def _answer(self, stream_id: int, status: int, reason: str | None) -> None:
        self.server.open_requests -= 1
        response_headers = [(":status", str(status)), ("apns-id", str(uuid.uuid4()))]
        if status == 200:
            self.conn.send_headers(stream_id, response_headers, end_stream=True)
            return
        payload: dict[str, object] = {"reason": reason}
        if status == 410:
            payload["timestamp"] = int(time.time() * 1000)
        data = json.dumps(payload).encode()
        self.conn.send_headers(
            stream_id, [*response_headers, ("content-type", "application/json")]
        )
        self.conn.send_data(stream_id, data, end_stream=True)


def main() -> None:
    """Run as a process; prints status counts as JSON on SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description="APNs stand-in")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client-ca")
    parser.add_argument("--token-key")
    parser.add_argument("--team-id")
    parser.add_argument("--key-id")
    parser.add_argument(
        "--delay-ms", type=float, default=0.0, help="simulated round trip per answer"
    )
    parser.add_argument("--port-file", help="write the chosen port here once listening")
    parser.add_argument(
        "--delivered-file", help="on exit, write {token: 200 answers} here as JSON"
    )
    args = parser.parse_args()
    server = ApnsStandIn(
        args.cert,
        args.key,
        args.topic,
        client_ca_file=args.client_ca,
        token_key_pem=Path(args.token_key).read_bytes() if args.token_key else None,
        team_id=args.team_id,
        key_id=args.key_id,
        port=args.port,
        delay=args.delay_ms / 1000,
    )

    async def run() -> None:
        await server.serve()
        if args.port_file:
            Path(args.port_file).write_text(str(server.port))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server._shutdown()

    asyncio.run(run())
    if args.delivered_file:
        Path(args.delivered_file).write_text(json.dumps(dict(server.delivered())))
    print(
        json.dumps(
            {
                "statuses": dict(server.status_counts),
                "delivered_tokens": len(server.delivered()),
                "connections": server.connections,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
