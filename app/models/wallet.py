"""Apple Wallet state: passes, devices, their registrations and device logs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.member import Member
from app.models.program import Program


class Pass(Base):
    __tablename__ = "pass"
    __table_args__ = (
        UniqueConstraint("program_id", "serial_number"),
        Index("ix_pass_program_tag", "program_id", "update_tag"),
        # Passes whose content hash the pass_hashes job has yet to fill in.
        Index(
            "ix_pass_unhashed",
            "id",
            postgresql_where=text("content_hash = ''"),
            sqlite_where=text("content_hash = ''"),
        ),
        # Voided passes (closed cards), for the closed_passes job.
        Index(
            "ix_pass_voided",
            "id",
            postgresql_where=text("voided"),
            sqlite_where=text("voided = 1"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), unique=True)
    serial_number: Mapped[str] = mapped_column(String(40))
    # Never changes for a pass: old copies on phones keep using it.
    authentication_token: Mapped[str] = mapped_column(String(64))
    # Monotonic per program; moves only when the pass content changes.
    update_tag: Mapped[int] = mapped_column(default=0)
    # SHA-256 of everything the pass shows: the tag moves only when this changes.
    # "" (UNKNOWN_HASH): changed, not hashed yet (see services.pass_hashes).
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    # Last-Modified; whole seconds, strictly increasing per pass (see services.passes).
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    voided: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    program: Mapped[Program] = relationship()
    member: Mapped[Member] = relationship()
    registrations: Mapped[list[Registration]] = relationship(
        back_populates="pass_", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Pass {self.serial_number} tag={self.update_tag}>"


class PassChange(Base):
    """A purchase's change of its card's pass, applied when its transaction
    commits (PostgreSQL: the deferred trigger `pass_change_at_commit`, migration
    0039_commit_tags): the program's next tag, the pass's content hash and
    Last-Modified (`updated_at`, or a second after the pass's, if later), the
    devices' pushes and, with `google`, a Google sync queued at `queued_at`;
    then the row is deleted. So the purchase holds its program's tag row only
    for the commit itself, not for a round trip to its till's thread. Always
    empty between transactions; unused on SQLite."""

    __tablename__ = "pass_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    pass_id: Mapped[int]
    program_id: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    google: Mapped[bool]
    queued_at: Mapped[datetime]


class Device(Base):
    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_library_identifier: Mapped[str] = mapped_column(String(128), unique=True)
    push_token: Mapped[str] = mapped_column(String(256))
    # "apple" (ApplePass scheme) or "android" (AndroidPass scheme, .pkpass apps).
    platform: Mapped[str] = mapped_column(String(10), default="apple")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    registrations: Mapped[list[Registration]] = relationship(
        back_populates="device", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Device {self.id} {self.platform}>"


class Registration(Base):
    __tablename__ = "registration"
    __table_args__ = (UniqueConstraint("device_id", "pass_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"))
    pass_id: Mapped[int] = mapped_column(ForeignKey("pass.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    device: Mapped[Device] = relationship(back_populates="registrations")
    pass_: Mapped[Pass] = relationship(back_populates="registrations")

    def __repr__(self) -> str:
        return f"<Registration device={self.device_id} pass={self.pass_id}>"


class DeviceLog(Base):
    """A message a device posted to /wallet/v1/log: the main server-side debug aid."""

    __tablename__ = "device_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(Text)
    client_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class WalletEvent(Base):
    """A device registered or unregistered a pass (installs/uninstalls stats):
    registrations are deleted on uninstall, so they cannot be counted later."""

    __tablename__ = "wallet_event"
    __table_args__ = (
        Index("ix_wallet_event_program_created", "program_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id"))
    pass_id: Mapped[int] = mapped_column()
    platform: Mapped[str] = mapped_column(String(10))  # apple, android
    kind: Mapped[str] = mapped_column(String(10))  # install, uninstall
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
