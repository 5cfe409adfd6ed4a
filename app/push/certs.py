"""Check the push configuration: certificate, keys and URLs, as readable findings.

Used by `flask --app wsgi check-certs` and at worker start-up, so a missing or
expired certificate is a clear sentence, not a stack trace at the first push.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

OK, WARNING, ERROR = "ok", "warning", "error"
RENEW_WARNING = timedelta(days=30)


@dataclass(frozen=True)
class Finding:
    level: str
    message: str


def _read(path_value: object, what: str, findings: list[Finding]) -> bytes | None:
    if not path_value:
        findings.append(Finding(ERROR, f"{what}: not configured"))
        return None
    path = Path(str(path_value))
    if not path.is_file():
        findings.append(Finding(ERROR, f"{what}: file not found: {path}"))
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        findings.append(Finding(ERROR, f"{what}: cannot read {path}: {exc.strerror}"))
        return None


def _check_expiry(
    certificate: x509.Certificate,
    what: str,
    findings: list[Finding],
    now: datetime,
    warn: timedelta,
) -> None:
    """ERROR when expired or not yet valid, WARNING within `warn` of the end."""
    expires = certificate.not_valid_after_utc
    if expires <= now:
        findings.append(Finding(ERROR, f"{what}: EXPIRED on {expires:%Y-%m-%d}"))
    elif certificate.not_valid_before_utc > now:
        findings.append(Finding(ERROR, f"{what}: not valid yet"))
    elif expires - now < warn:
        days = (expires - now).days
        findings.append(
            Finding(
                WARNING,
                f"{what}: expires soon, in {days} days on {expires:%Y-%m-%d}; "
                "renew it now",
            )
        )
    else:
        findings.append(Finding(OK, f"{what}: valid to {expires:%Y-%m-%d}"))


def _load_certificate(
    path_value: object, what: str, findings: list[Finding]
) -> x509.Certificate | None:
    pem = _read(path_value, what, findings)
    if pem is None:
        return None
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        findings.append(Finding(ERROR, f"{what}: not a PEM certificate file"))
        return None


@dataclass(frozen=True)
class SigningFiles:
    """The files passes are signed with (the deployment's or one program's)."""

    cert_file: object
    key_file: object
    wwdr_file: object
    password: str | None
    pass_type_identifier: object
    label: str = "pass certificate"


def deployment_signing_files(config: Mapping[str, Any]) -> SigningFiles:
    return SigningFiles(
        config.get("PASS_CERT_FILE"),
        config.get("PASS_KEY_FILE"),
        config.get("WWDR_CERT_FILE"),
        config.get("PASS_KEY_PASSWORD"),
        config.get("PASS_TYPE_IDENTIFIER"),
    )


def warning_window(config: Mapping[str, Any]) -> timedelta:
    """How long before a certificate expires check-certs starts warning."""
    return timedelta(days=int(config.get("CERT_WARNING_DAYS") or 0) or 30)


def check_signing(
    files: SigningFiles,
    findings: list[Finding],
    now: datetime,
    warn: timedelta = RENEW_WARNING,
) -> None:
    """Pass certificate (also the APNs client certificate in certificate mode), its
    key, and the WWDR intermediate that issued it: present, matching, in date."""
    label = files.label
    certificate = _load_certificate(files.cert_file, label, findings)
    key_pem = _read(files.key_file, f"{label} key", findings)
    key = None
    if key_pem is not None:
        password = files.password
        try:
            key = serialization.load_pem_private_key(
                key_pem, password.encode() if password else None
            )
        except (ValueError, TypeError):
            findings.append(
                Finding(
                    ERROR,
                    f"{label} key: cannot load it (not a PEM private key, "
                    "or PASS_KEY_PASSWORD is wrong or missing)",
                )
            )
    # Wallet refuses a pass whose signature chain ends in an expired WWDR, whatever
    # the pass certificate's own dates: Apple rotates the intermediate (G4 today).
    wwdr_label = f"WWDR certificate ({label})"
    wwdr = _load_certificate(files.wwdr_file, wwdr_label, findings)
    if wwdr is not None:
        _check_expiry(wwdr, wwdr_label, findings, now, warn)
    if certificate is None:
        return
    _check_expiry(certificate, label, findings, now, warn)
    if wwdr is not None:
        try:
            certificate.verify_directly_issued_by(wwdr)
        except (ValueError, TypeError, InvalidSignature):
            findings.append(
                Finding(
                    ERROR,
                    f"{label}: not issued by the WWDR certificate "
                    f"({wwdr.subject.rfc4514_string()})",
                )
            )
    uids = certificate.subject.get_attributes_for_oid(NameOID.USER_ID)
    topic = files.pass_type_identifier
    if not uids or str(uids[0].value) != topic:
        found = str(uids[0].value) if uids else "none"
        findings.append(
            Finding(
                ERROR,
                f"{label}: issued for pass type {found!r}, "
                f"but the pass type identifier is {topic!r}",
            )
        )
    if key is not None:
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        encoding = serialization.Encoding.DER
        if key.public_key().public_bytes(encoding, public) != (
            certificate.public_key().public_bytes(encoding, public)
        ):
            findings.append(
                Finding(ERROR, f"{label} key: does not match the certificate")
            )
        else:
            findings.append(Finding(OK, f"{label} key: matches"))


def check_token(config: Mapping[str, Any], findings: list[Finding]) -> None:
    key_pem = _read(config.get("APNS_KEY_FILE"), "APNs key (APNS_KEY_FILE)", findings)
    if key_pem is not None:
        try:
            key = serialization.load_pem_private_key(key_pem, None)
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            findings.append(
                Finding(ERROR, "APNs key: not an ES256 (P-256) .p8 private key")
            )
        else:
            findings.append(Finding(OK, "APNs key: ES256 key loaded"))
    key_id = config.get("APNS_KEY_ID")
    if not key_id and config.get("APNS_KEY_FILE"):
        sidecar = Path(str(config["APNS_KEY_FILE"])).with_name("apns-key-id.txt")
        key_id = sidecar.read_text().strip() if sidecar.is_file() else None
    if not key_id:
        findings.append(Finding(ERROR, "APNs key id: APNS_KEY_ID is not set"))
    elif len(str(key_id)) != 10:
        findings.append(
            Finding(WARNING, "APNs key id: Apple key ids have 10 characters")
        )
    if not config.get("TEAM_IDENTIFIER"):
        findings.append(Finding(ERROR, "TEAM_IDENTIFIER is not set (the JWT issuer)"))


def check_push_config(
    config: Mapping[str, Any], now: datetime | None = None
) -> list[Finding]:
    """Everything wrong (or fine) with the push settings, in plain words."""
    now = now or datetime.now(UTC)
    warn = warning_window(config)
    findings: list[Finding] = []
    url = str(config.get("APNS_URL") or "")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        findings.append(Finding(ERROR, f"APNS_URL must be an https URL, not {url!r}"))
    else:
        findings.append(Finding(OK, f"APNS_URL: {url}"))
    ca_file = config.get("APNS_CA_FILE")
    if ca_file:
        ca_pem = _read(ca_file, "APNS_CA_FILE", findings)
        if ca_pem is not None:
            try:
                trusted = x509.load_pem_x509_certificates(ca_pem)
            except ValueError:
                findings.append(Finding(ERROR, "APNS_CA_FILE: not a PEM certificate"))
            else:
                findings.append(Finding(OK, f"APNS_CA_FILE: {ca_file}"))
                for certificate in trusted:
                    name = certificate.subject.rfc4514_string()
                    _check_expiry(
                        certificate, f"APNS_CA_FILE {name}", findings, now, warn
                    )
    mode = config.get("APNS_AUTH")
    if mode == "certificate":
        findings.append(Finding(OK, "APNs auth: certificate (the pass certificate)"))
        check_signing(deployment_signing_files(config), findings, now, warn)
    elif mode == "token":
        findings.append(Finding(OK, "APNs auth: token (.p8 JWT)"))
        check_token(config, findings)
        # Passes are still signed with the pass certificate.
        check_signing(deployment_signing_files(config), findings, now, warn)
    else:
        findings.append(
            Finding(ERROR, f"APNS_AUTH must be 'certificate' or 'token', not {mode!r}")
        )
    relay = config.get("WALLETPASSES_PUSH_URL")
    if relay:
        findings.append(Finding(OK, f"WalletPasses relay: {relay}"))
    else:
        findings.append(
            Finding(WARNING, "WALLETPASSES_PUSH_URL is empty: Android apps get no push")
        )
    return findings


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == ERROR]
