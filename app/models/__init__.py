"""SQLAlchemy models, one module per aggregate."""

from app.models.base import Base
from app.models.google import GoogleCallback, GoogleClass, GoogleMessage, GoogleObject
from app.models.member import Member
from app.models.program import Program, Store
from app.models.push import PushDelivery
from app.models.wallet import Device, DeviceLog, Pass, Registration

__all__ = [
    "Base",
    "Device",
    "DeviceLog",
    "GoogleCallback",
    "GoogleClass",
    "GoogleMessage",
    "GoogleObject",
    "Member",
    "Pass",
    "Program",
    "PushDelivery",
    "Registration",
    "Store",
]
