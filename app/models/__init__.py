"""SQLAlchemy models, one module per aggregate."""

from app.models.apikey import AdminSession, ApiKey
from app.models.audit import AuditEntry
from app.models.automation import Automation, AutomationRun
from app.models.base import Base
from app.models.campaign import Campaign
from app.models.catalog import Product, ProductSubscription
from app.models.feedback import Feedback
from app.models.google import GoogleCallback, GoogleClass, GoogleMessage, GoogleObject
from app.models.imports import CardAlias, MemberImport
from app.models.kpi import KpiSnapshot, MemberYearTotal, YearTotalSnapshot
from app.models.ledger import LedgerEntry, MemberPurchaseTotal, PosTransaction
from app.models.member import Member
from app.models.membership import MembershipPlan, MembershipSale
from app.models.message import MemberMessage
from app.models.offer import MemberOffer, Offer
from app.models.outbound import OutboundMessage, SignupCode
from app.models.pass_cache import SignedPass, SignedPassPart
from app.models.program import Program, ProgramImage, ProgramTag, Store
from app.models.push import PushDelivery
from app.models.referral import Referral, ReferralOpen
from app.models.refresh import PassRefresh
from app.models.results import Assignment, SavedSegment
from app.models.wallet import (
    Device,
    DeviceLog,
    Pass,
    PassChange,
    Registration,
    WalletEvent,
)
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
    "Feedback",
    "GoogleCallback",
    "GoogleClass",
    "GoogleMessage",
    "GoogleObject",
    "KpiSnapshot",
    "MemberYearTotal",
    "YearTotalSnapshot",
    "LedgerEntry",
    "MemberPurchaseTotal",
    "Member",
    "MemberImport",
    "MemberMessage",
    "MemberOffer",
    "MembershipPlan",
    "MembershipSale",
    "Offer",
    "OutboundMessage",
    "Pass",
    "PassChange",
    "PassRefresh",
    "PosTransaction",
    "Product",
    "ProductSubscription",
    "Program",
    "ProgramImage",
    "ProgramTag",
    "PushDelivery",
    "Referral",
    "ReferralOpen",
    "Registration",
    "SavedSegment",
    "SignedPass",
    "SignedPassPart",
    "SignupCode",
    "Store",
    "WalletEvent",
    "WebhookDelivery",
    "WebhookEndpoint",
]
