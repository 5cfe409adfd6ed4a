"""One APNs client per credential, chosen by the delivery's topic.

APNs accepts a pass push only over the identity of the pass type's owner: in
certificate mode the TLS client certificate of that pass type, in token mode a JWT
signed with a key of that pass type's team. A deployment hosting several brands
(programs with their own pass type) therefore needs a client per certificate or
team. `ApnsClients` maps each topic (pass type identifier) to the credentials of
the program that owns it (its own files, else the deployment's), builds one
`ApnsClient` per distinct credential on first use, and re-reads the programs now
and then so a brand added while the worker runs gets its pushes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from app.push.apns import ApnsClient, client_ssl_context, load_token_auth

log = logging.getLogger(__name__)

# How long a topic's credentials are trusted before the programs are read again.
REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class Credentials:
    """What one APNs client authenticates with."""

    mode: str  # "certificate" or "token"
    key_file: str  # the certificate's private key, or the team's .p8 key
    cert_file: str | None = None  # certificate mode
    key_password: str | None = None  # certificate mode
    team_id: str | None = None  # token mode: the JWT issuer
    key_id: str | None = None  # token mode (None: apns-key-id.txt beside the key)

    def describe(self) -> str:
        if self.mode == "token":
            return f"team {self.team_id}"
        return f"certificate {self.cert_file}"


@dataclass(frozen=True)
class ProgramFiles:
    """A program's pass type and the credential files it may carry."""

    slug: str
    pass_type_identifier: str
    team_identifier: str
    pass_cert_file: str | None = None
    pass_key_file: str | None = None
    apns_key_file: str | None = None
    apns_key_id: str | None = None


def deployment_credentials(config: Mapping[str, Any]) -> Credentials:
    """The deployment's own: PASS_CERT_FILE, or APNS_KEY_FILE for TEAM_IDENTIFIER."""
    if config.get("APNS_AUTH") == "token":
        return Credentials(
            "token",
            str(config["APNS_KEY_FILE"]),
            team_id=str(config["TEAM_IDENTIFIER"]),
            key_id=config.get("APNS_KEY_ID") or None,
        )
    return Credentials(
        "certificate",
        str(config["PASS_KEY_FILE"]),
        cert_file=str(config["PASS_CERT_FILE"]),
        key_password=config.get("PASS_KEY_PASSWORD"),
    )


def program_credentials(
    config: Mapping[str, Any], program: ProgramFiles
) -> Credentials | str:
    """The credentials that push `program`'s passes, or why there are none."""
    if config.get("APNS_AUTH") == "token":
        if program.apns_key_file:
            return Credentials(
                "token",
                program.apns_key_file,
                team_id=program.team_identifier,
                key_id=program.apns_key_id or None,
            )
        if program.team_identifier == config.get("TEAM_IDENTIFIER"):
            return deployment_credentials(config)
        return (
            f"program {program.slug}: no APNs key for team "
            f"{program.team_identifier} (set the program's apns_key_file)"
        )
    if program.pass_cert_file and program.pass_key_file:
        return Credentials(
            "certificate",
            program.pass_key_file,
            cert_file=program.pass_cert_file,
            key_password=config.get("PASS_KEY_PASSWORD"),
        )
    return deployment_credentials(config)


def programs_from(engine: Engine) -> Callable[[set[str]], list[ProgramFiles]]:
    """A lookup of the programs owning some topics (Core SQL; run in a thread)."""
    from app.models import Program

    def lookup(topics: set[str]) -> list[ProgramFiles]:
        query = select(
            Program.slug,
            Program.pass_type_identifier,
            Program.team_identifier,
            Program.pass_cert_file,
            Program.pass_key_file,
            Program.apns_key_file,
            Program.apns_key_id,
        ).where(Program.pass_type_identifier.in_(sorted(topics)))
        with engine.connect() as conn:
            return [ProgramFiles(*row) for row in conn.execute(query)]

    return lookup


def build_client(config: Mapping[str, Any], credentials: Credentials) -> ApnsClient:
    """An HTTP/2 client authenticating with `credentials` (files read now)."""
    auth = None
    if credentials.mode == "token":
        auth = load_token_auth(
            credentials.key_file, credentials.key_id, str(credentials.team_id)
        )
        context = client_ssl_context(config.get("APNS_CA_FILE"))
    else:
        context = client_ssl_context(
            config.get("APNS_CA_FILE"),
            credentials.cert_file,
            credentials.key_file,
            credentials.key_password,
        )
    return ApnsClient(
        str(config["APNS_URL"]),
        context,
        auth,
        connections=int(config.get("APNS_CONNECTIONS", 2)),
        streams=int(config.get("APNS_STREAMS", 250)),
    )


class ApnsClients:
    """Topic -> the client of its program's credentials (see the module doc).

    Without a program lookup (or for a topic no program owns) the deployment's
    credentials are used, as with a single brand.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        lookup: Callable[[set[str]], list[ProgramFiles]] | None = None,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.lookup = lookup
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        # topic -> (credentials or the reason there are none, when resolved)
        self._topics: dict[str, tuple[Credentials | str, float]] = {}
        self._clients: dict[Credentials, ApnsClient] = {}
        self.deployment = deployment_credentials(config)

    def client(self, credentials: Credentials) -> ApnsClient:
        """The one client for these credentials (built on first use)."""
        found = self._clients.get(credentials)
        if found is None:
            found = self._clients[credentials] = build_client(self.config, credentials)
            log.info("apns client for %s", credentials.describe())
        return found

    @property
    def clients(self) -> dict[Credentials, ApnsClient]:
        return dict(self._clients)

    async def for_topics(self, topics: set[str]) -> dict[str, ApnsClient | str]:
        """Each topic's client, or the reason it has none (a plain sentence)."""
        now = self._clock()
        stale = {
            topic
            for topic in topics
            if topic not in self._topics
            or now - self._topics[topic][1] >= self.refresh_seconds
        }
        if stale:
            await self._resolve(stale, now)
        answer: dict[str, ApnsClient | str] = {}
        for topic in topics:
            credentials = self._topics[topic][0]
            if isinstance(credentials, str):
                answer[topic] = credentials
                continue
            try:
                answer[topic] = self.client(credentials)
            except (OSError, ValueError) as error:
                # Unreadable files: retried, and check-certs says which.
                answer[topic] = f"APNs {credentials.describe()}: {error}"
        return answer

    async def _resolve(self, topics: set[str], now: float) -> None:
        found: dict[str, Credentials | str] = dict.fromkeys(topics, self.deployment)
        if self.lookup is not None:
            try:
                programs = await asyncio.to_thread(self.lookup, topics)
            except Exception:  # noqa: BLE001 - the database is away: keep what we had
                log.exception("apns: could not read the programs' credentials")
                programs = None
            if programs is None:
                for topic in topics:
                    if topic in self._topics:
                        found[topic] = self._topics[topic][0]
            else:
                for program in programs:
                    found[program.pass_type_identifier] = program_credentials(
                        self.config, program
                    )
        for topic, credentials in found.items():
            self._topics[topic] = (credentials, now)

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(client.close() for client in clients))
