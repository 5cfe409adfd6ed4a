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

import passes
from app.extensions import db
from app.models import Program
from app.push.certs import check_push_config, errors
from tests.support.push import TOPIC, push_config


@pytest.fixture
def demo_program_id(make_app: Callable[[dict], Flask]) -> int:
    from app.services.demo import seed_demo

    app = make_app({})
    with app.app_context():
        program = seed_demo()
        db.session.commit()
        return program.id


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


# -- expiry warnings: pass certificate, WWDR, APNs trust, each brand's files -------


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Development certificates that end soon: the WWDR in 10 days, the pass
    certificate (issued by it) in 45 days."""
    directory = tmp_path_factory.mktemp("short-lived")
    pki = passes.make_dev_pki(TOPIC, "TESTTEAM01", "Short", pass_days=45, wwdr_days=10)
    passes.write_dev_pki(pki, directory)
    return directory


def _signing(directory: Path) -> dict[str, str]:
    return {
        "PASS_CERT_FILE": str(directory / "pass.pem"),
        "PASS_KEY_FILE": str(directory / "pass.key"),
        "WWDR_CERT_FILE": str(directory / "wwdr.pem"),
    }


def _lines(output: str, mark: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(mark)]


def test_warns_weeks_before_the_wwdr_expires(
    make_app: Callable[[dict], Flask], pki_dir: Path, short_lived: Path
) -> None:
    config = push_config(pki_dir, "https://127.0.0.1:1") | _signing(short_lived)
    code, output = run(make_app(config), "check-certs")
    # Still usable (exit 0), but the operator is told, in time.
    assert code == 0, output
    warnings = _lines(output, "WARNING")
    assert any(
        "WWDR certificate" in line and "expires soon, in 9 days" in line
        for line in warnings
    ), output
    # The pass certificate's 45 days are outside the default 30-day window.
    assert not any(line.startswith("WARNING pass certificate:") for line in warnings)
    assert "pass certificate: valid to" in output


def test_the_warning_window_is_configurable(
    make_app: Callable[[dict], Flask], pki_dir: Path, short_lived: Path
) -> None:
    config = push_config(pki_dir, "https://127.0.0.1:1") | _signing(short_lived)
    code, output = run(make_app(config | {"CERT_WARNING_DAYS": 60}), "check-certs")
    assert code == 0, output
    assert any(
        line.startswith("WARNING pass certificate: expires soon, in 44 days")
        for line in _lines(output, "WARNING")
    ), output


def test_an_expired_wwdr_is_an_error(pki_dir: Path, short_lived: Path) -> None:
    config = push_config(pki_dir, "https://127.0.0.1:1") | _signing(short_lived)
    config |= {"PASS_TYPE_IDENTIFIER": TOPIC, "TEAM_IDENTIFIER": "TESTTEAM01"}
    later = datetime.now(UTC) + timedelta(days=20)
    messages = [f.message for f in errors(check_push_config(config, now=later))]
    assert any(
        m.startswith("WWDR certificate (pass certificate): EXPIRED on")
        for m in messages
    ), messages
    # The pass certificate itself is still in date: only the WWDR is reported.
    assert not any(m.startswith("pass certificate: EXPIRED") for m in messages)


def test_a_pass_certificate_from_another_wwdr_is_an_error(
    make_app: Callable[[dict], Flask], pki_dir: Path, short_lived: Path
) -> None:
    config = push_config(pki_dir, "https://127.0.0.1:1")
    config["WWDR_CERT_FILE"] = str(short_lived / "wwdr.pem")
    code, output = run(make_app(config), "check-certs")
    assert code == 1
    assert "pass certificate: not issued by the WWDR certificate" in output


def test_apns_trust_certificates_are_checked_for_expiry(pki_dir: Path) -> None:
    config = push_config(pki_dir, "https://127.0.0.1:1") | {
        "PASS_TYPE_IDENTIFIER": TOPIC,
        "TEAM_IDENTIFIER": "TESTTEAM01",
        **_signing(pki_dir),
    }
    ca = x509.load_pem_x509_certificate((pki_dir / "ca.pem").read_bytes())
    almost = ca.not_valid_after_utc - timedelta(days=3)
    findings = check_push_config(config, now=almost)
    assert any(
        f.level == "warning"
        and f.message.startswith("APNS_CA_FILE ")
        and "Development Root CA: expires soon, in 3 days" in f.message
        for f in findings
    ), findings


def test_each_brands_own_certificates_are_checked(
    make_app: Callable[[dict], Flask],
    pki_dir: Path,
    short_lived: Path,
    demo_program_id: int,
) -> None:
    app = make_app(push_config(pki_dir, "https://127.0.0.1:1"))
    with app.app_context():
        program = db.session.get(Program, demo_program_id)
        program.pass_cert_file = str(short_lived / "pass.pem")
        program.pass_key_file = str(short_lived / "pass.key")
        program.wwdr_cert_file = str(short_lived / "wwdr.pem")
        program.pass_type_identifier = TOPIC
        db.session.commit()
        slug = program.slug
    code, output = run(app, "check-certs")
    assert code == 0, output
    assert (
        f"WARNING WWDR certificate (program {slug}: pass certificate): expires soon"
        in output
    )
