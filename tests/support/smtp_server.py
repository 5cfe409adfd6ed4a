"""A real SMTP server on loopback (aiosmtpd) that requires STARTTLS and AUTH.

TLS uses the development certificate for 127.0.0.1 (`apns-server.pem`, issued by
the test CA), so clients trust it with SMTP_CA_FILE=ca.pem.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USER, PASSWORD = "mailer", "s3cret-pass"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    tls: bool
    user: str | None


@dataclass
class Handler:
    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 - aiosmtpd's naming
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        login = session.auth_data
        self.messages.append(
            Received(
                sender=str(envelope.mail_from),
                recipients=list(envelope.rcpt_tos),
                data=bytes(envelope.original_content or b""),
                tls=session.ssl is not None,
                user=login.decode() if isinstance(login, bytes) else login,
            )
        )
        return "250 Message accepted for delivery"


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == USER.encode()
        and data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, auth_data=USER if ok else None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpStandIn:
    def __init__(self, pki_dir: Path) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(
            str(pki_dir / "apns-server.pem"), str(pki_dir / "apns-server.key")
        )
        self.handler = Handler()
        self.port = _free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=_authenticator,
            auth_require_tls=True,
            auth_required=True,
        )
        self.url = f"smtp://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def start(self) -> SmtpStandIn:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
