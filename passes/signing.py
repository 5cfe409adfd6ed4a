"""The pass signature: a detached PKCS#7 (DER) over manifest.json.

Signed with the Pass Type ID certificate's key, with the WWDR intermediate embedded and
the S/MIME signing-time attribute, as Apple asks. `Binary` is essential: without it the
manifest is MIME-canonicalised (LF -> CRLF) before hashing and the digest fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from passes.errors import PassSigningError as PassSigningError  # also importable here

_OPTIONS = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]


def _subject_value(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


@dataclass(frozen=True)
class Signer:
    """A pass certificate, its private key and the WWDR intermediate, loaded once."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    wwdr: x509.Certificate

    @classmethod
    def from_pem(
        cls,
        certificate_pem: bytes,
        private_key_pem: bytes,
        wwdr_pem: bytes,
        key_password: bytes | None = None,
    ) -> Signer:
        """Load and check the files' contents; PassSigningError says what is wrong."""
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem)
        except ValueError as error:
            raise PassSigningError(f"pass certificate is not PEM: {error}") from None
        try:
            wwdr = x509.load_pem_x509_certificate(wwdr_pem)
        except ValueError as error:
            raise PassSigningError(f"WWDR certificate is not PEM: {error}") from None
        try:
            key = serialization.load_pem_private_key(private_key_pem, key_password)
        except (ValueError, TypeError):
            # The message never includes the key or the password.
            raise PassSigningError(
                "pass private key cannot be read (not PEM, or wrong PASS_KEY_PASSWORD)"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise PassSigningError("pass private key must be RSA or EC")
        if key.public_key() != certificate.public_key():
            raise PassSigningError("pass private key does not match the certificate")
        if certificate.issuer != wwdr.subject:
            raise PassSigningError(
                "WWDR certificate did not issue the pass certificate "
                "(use the intermediate named in the certificate's issuer, e.g. G4)"
            )
        return cls(certificate, key, wwdr)

    @cached_property
    def pass_type_identifier(self) -> str:
        """The pass type identifier the certificate is for (subject UID)."""
        return _subject_value(self.certificate, NameOID.USER_ID)

    @cached_property
    def team_identifier(self) -> str:
        """The Apple team the certificate belongs to (subject OU)."""
        return _subject_value(self.certificate, NameOID.ORGANIZATIONAL_UNIT_NAME)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the pass certificate (hex): what a stored signature was made
        with, so a cache of signed passes can tell a replaced certificate."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def expires_at(self) -> datetime:
        return min(self.certificate.not_valid_after_utc, self.wwdr.not_valid_after_utc)

    def check_usable(self, now: datetime | None = None) -> None:
        """Raise if the certificate or the WWDR intermediate has expired."""
        if (now or datetime.now(UTC)) >= self.expires_at:
            raise PassSigningError(
                f"pass certificate or WWDR expired on {self.expires_at:%Y-%m-%d}"
            )

    def sign(self, data: bytes) -> bytes:
        """Detached PKCS#7 (DER) of `data`, WWDR embedded, signing time set."""
        return (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(data)
            .add_signer(self.certificate, self.private_key, hashes.SHA256())
            .add_certificate(self.wwdr)
            .sign(serialization.Encoding.DER, _OPTIONS)
        )
