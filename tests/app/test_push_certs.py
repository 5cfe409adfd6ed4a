"""`flask check-certs` and the worker's start-up check: clear words, no traces."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

from tests.support.push import TOPIC, push_config


def run(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def expired_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.USER_ID, TOPIC)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now - timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "old.pem", directory / "old.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_good_configuration_in_both_modes(
    make_app: Callable[[dict], Flask], pki_dir: Path
) -> None:
    for mode in ("certificate", "token"):
        code, output = run(
            make_app(push_config(pki_dir, "https://127.0.0.1:1", mode)), "check-certs"
        )
        assert code == 0, output
        assert "push configuration is usable" in output
        assert "ERROR" not in output


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("expired", "pass certificate: EXPIRED on"),
        ("missing-key", "pass certificate key: file not found"),
        ("wrong-key", "pass certificate key: does not match the certificate"),
        ("no-p8", "APNs key (APNS_KEY_FILE): file not found"),
        ("bad-url", "APNS_URL must be an https URL"),
    ],
)
def test_problems_are_reported_clearly(
    make_app: Callable[[dict], Flask],
    pki_dir: Path,
    tmp_path: Path,
    change: str,
    expected: str,
) -> None:
    config = push_config(pki_dir, "https://127.0.0.1:1", "certificate")
    if change == "expired":
        cert_file, key_file = expired_certificate(tmp_path)
        config |= {"PASS_CERT_FILE": str(cert_file), "PASS_KEY_FILE": str(key_file)}
    elif change == "missing-key":
        config["PASS_KEY_FILE"] = str(tmp_path / "nowhere.key")
    elif change == "wrong-key":
        config["PASS_KEY_FILE"] = str(pki_dir / "apns-server.key")
    elif change == "no-p8":
        config |= {"APNS_AUTH": "token", "APNS_KEY_FILE": str(tmp_path / "x.p8")}
    else:
        config["APNS_URL"] = "http://api.push.apple.com"
    app = make_app(config)
    code, output = run(app, "check-certs")
    assert code == 1
    assert expected in output
    assert "Traceback" not in output
    # The worker refuses to start with the same words, not a stack trace.
    code, output = run(app, "worker", "--until-idle")
    assert code == 1
    assert expected in output
    assert "check-certs" in output
    assert "Traceback" not in output
