"""SQLAlchemy models, one module per aggregate."""

from app.models.apikey import AdminSession, ApiKey
from app.models.base import Base
from app.models.campaign import AuditEntry, Campaign
from app.models.google import GoogleCallback, GoogleClass, GoogleMessage, GoogleObject
from app.models.imports import CardAlias, MemberImport
from app.models.ledger import LedgerEntry, PosTransaction
from app.models.marketing import (
    Automation,
    AutomationRun,
    Product,
    ProductSubscription,
    StoreRefresh,
    WalletEvent,
)
from app.models.member import Member
from app.models.message import MemberMessage
from app.models.offer import MemberOffer, Offer
from app.models.outbound import OutboundMessage, SignupCode
from app.models.program import Program, ProgramImage, Store
from app.models.push import PushDelivery
from app.models.referral import Referral, ReferralOpen
from app.models.results import Assignment, SavedSegment
from app.models.wallet import Device, DeviceLog, Pass, Registration
from app.models.webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "AdminSession",
    "ApiKey",
    "Assignment",
    "AuditEntry",
    "Automation",
    "AutomationRun",
    "Base",
    "CardAlias",
    "Campaign",
    "Device",
    "DeviceLog",
    "GoogleCallback",
    "GoogleClass",
    "GoogleMessage",
    "GoogleObject",
    "LedgerEntry",
    "Member",
    "MemberImport",
    "MemberMessage",
    "MemberOffer",
    "Offer",
    "OutboundMessage",
    "Pass",
    "PosTransaction",
    "Product",
    "ProductSubscription",
    "Program",
    "ProgramImage",
    "PushDelivery",
    "Referral",
    "ReferralOpen",
    "Registration",
    "SavedSegment",
    "SignupCode",
    "Store",
    "StoreRefresh",
    "WalletEvent",
    "WebhookDelivery",
    "WebhookEndpoint",
]
