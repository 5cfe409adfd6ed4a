"""Development certificates: a local CA standing in for Apple's, and the keys a
deployment needs. For development and tests only: Wallet refuses these passes.

- `ca.pem`: the stand-in root (plays Apple Root CA; `openssl cms -verify -CAfile`);
- `wwdr.pem`: the stand-in WWDR G4 intermediate that issues the pass certificate;
- `pass.pem`, `pass.key`: the Pass Type ID certificate (subject UID = pass type
  identifier, OU = team identifier) and its RSA key; also the APNs client certificate;
- `apns.p8`: an ES256 APNs auth key (token mode), with a 10-character key id;
- `apns-server.pem`, `apns-server.key`: TLS for a local APNs stand-in on loopback;
- `google-service-account.json`: a Google service-account key file of the usual form.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_PEM = serialization.Encoding.PEM

# Names that mark what `make_dev_pki` made, so production can refuse it: the
# stand-in WWDR's common name, the root's suffix and the Google key's project.
DEV_WWDR_COMMON_NAME = "Worldwide Developer Relations CA (development stand-in)"
DEV_ROOT_SUFFIX = " Development Root CA"
DEV_GOOGLE_PROJECT = "wallet-dev"


@dataclass(frozen=True)
class DevPKI:
    ca: x509.Certificate
    wwdr: x509.Certificate
    pass_certificate: x509.Certificate
    pass_key: rsa.RSAPrivateKey
    apns_key: ec.EllipticCurvePrivateKey
    apns_key_id: str
    apns_server_certificate: x509.Certificate
    apns_server_key: ec.EllipticCurvePrivateKey
    google_service_account: dict[str, Any]


def _name(**attributes: str) -> x509.Name:
    oids = {
        "CN": NameOID.COMMON_NAME,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "C": NameOID.COUNTRY_NAME,
        "UID": NameOID.USER_ID,
    }
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attributes.items()])


def _certificate(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer: x509.Name,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    days: float,
    ca: bool,
    extensions: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    now = datetime.now(UTC) - timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(
            x509.BasicConstraints(ca=ca, path_length=None if ca else None),
            critical=True,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_dev_pki(
    pass_type_identifier: str,
    team_identifier: str,
    organization: str,
    *,
    pass_days: float = 365,
    wwdr_days: float = 3650,
) -> DevPKI:
    """Generate a fresh development PKI (about a second of RSA key generation).

    `pass_days` and `wwdr_days` make short-lived certificates for testing expiry
    warnings (Apple's last a year and about ten years).
    """
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = _name(CN=f"{organization}{DEV_ROOT_SUFFIX}", O=organization)
    ca = _certificate(ca_name, ca_key.public_key(), ca_name, ca_key, 3650, ca=True)

    wwdr_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wwdr_name = _name(
        CN=DEV_WWDR_COMMON_NAME,
        OU="G4",
        O=organization,
        C="RU",
    )
    wwdr = _certificate(
        wwdr_name, wwdr_key.public_key(), ca_name, ca_key, wwdr_days, ca=True
    )

    pass_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pass_certificate = _certificate(
        _name(
            UID=pass_type_identifier,
            CN=f"Pass Type ID: {pass_type_identifier}",
            OU=team_identifier,
            O=organization,
            C="RU",
        ),
        pass_key.public_key(),
        wwdr_name,
        wwdr_key,
        pass_days,
        ca=False,
        extensions=[x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])],
    )

    apns_server_key = ec.generate_private_key(ec.SECP256R1())
    apns_server_certificate = _certificate(
        _name(CN="localhost", O=organization),
        apns_server_key.public_key(),
        ca_name,
        ca_key,
        825,
        ca=False,
        extensions=[
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
        ],
    )

    google_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    project = DEV_GOOGLE_PROJECT
    google_service_account = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": google_key.private_bytes(
            _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "client_email": f"wallet-issuer@{project}.iam.gserviceaccount.com",
        "client_id": str(secrets.randbelow(10**20)),
        "token_uri": "https://oauth2.googleapis.com/token",
    }

    alphabet = string.ascii_uppercase + string.digits
    return DevPKI(
        ca=ca,
        wwdr=wwdr,
        pass_certificate=pass_certificate,
        pass_key=pass_key,
        apns_key=ec.generate_private_key(ec.SECP256R1()),
        apns_key_id="".join(secrets.choice(alphabet) for _ in range(10)),
        apns_server_certificate=apns_server_certificate,
        apns_server_key=apns_server_key,
        google_service_account=google_service_account,
    )


def is_development_certificate(certificate: x509.Certificate) -> bool:
    """Whether `make_dev_pki` made this certificate (the root, the stand-in WWDR,
    or a certificate either of them issued)."""
    for name in (certificate.subject, certificate.issuer):
        for attribute in name.get_attributes_for_oid(NameOID.COMMON_NAME):
            value = str(attribute.value)
            if value == DEV_WWDR_COMMON_NAME or value.endswith(DEV_ROOT_SUFFIX):
                return True
    return False


def is_development_service_account(key: Any) -> bool:
    """Whether a parsed Google service-account key file is the development one."""
    if not isinstance(key, dict):
        return False
    return key.get("project_id") == DEV_GOOGLE_PROJECT or str(
        key.get("client_email", "")
    ).endswith(f"@{DEV_GOOGLE_PROJECT}.iam.gserviceaccount.com")


def _private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_dev_pki(pki: DevPKI, directory: Path) -> dict[str, Path]:
    """Write the PKI's files (keys readable by the owner only); name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    contents = {
        "ca.pem": pki.ca.public_bytes(_PEM),
        "wwdr.pem": pki.wwdr.public_bytes(_PEM),
        "pass.pem": pki.pass_certificate.public_bytes(_PEM),
        "pass.key": _private_pem(pki.pass_key),
        "apns.p8": _private_pem(pki.apns_key),
        "apns-key-id.txt": pki.apns_key_id.encode() + b"\n",
        "apns-server.pem": pki.apns_server_certificate.public_bytes(_PEM),
        "apns-server.key": _private_pem(pki.apns_server_key),
        "google-service-account.json": json.dumps(
            pki.google_service_account, indent=2
        ).encode(),
    }
    secret = {"pass.key", "apns.p8", "apns-server.key", "google-service-account.json"}
    written = {}
    for name, data in contents.items():
        path = directory / name
        # Created with the final mode, so a key is never readable by others.
        descriptor = os.open(
            path,
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
            0o600 if name in secret else 0o644,
        )
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        written[name] = path
    return written
