"""Production (https PUBLIC_BASE_URL) refuses unsafe settings: a missing, default or
short SECRET_KEY, development certificates or the development Google key. One plain
line naming the setting and a non-zero exit, from gunicorn and from `flask`;
`check-certs` reports the same; http (`make run`) starts as before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from app import config, create_app
from app.config import UnsafeSettings, production_problems
from passes import devpki
from tests.app.test_gunicorn import free_port

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "pass.test.wallet.loyalty"
SHORT_KEY = "short-but-secret-value"  # 22 characters
LONG_KEY = "k" * 16 + "0123456789abcdef0123"  # 36 characters


@pytest.fixture(scope="module")
def real_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Certificates named like Apple's (not made by dev-certs): what production has."""
    directory = tmp_path_factory.mktemp("real-certs")
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = devpki._name(CN="Apple Root CA", O="Apple Inc.", C="US")
    root = devpki._certificate(
        root_name, root_key.public_key(), root_name, root_key, 3650, ca=True
    )
    wwdr_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wwdr_name = devpki._name(
        CN="Apple Worldwide Developer Relations Certification Authority",
        OU="G4",
        O="Apple Inc.",
        C="US",
    )
    wwdr = devpki._certificate(
        wwdr_name, wwdr_key.public_key(), root_name, root_key, 3650, ca=True
    )
    pass_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = devpki._certificate(
        devpki._name(UID=TOPIC, CN=f"Pass Type ID: {TOPIC}", OU="TESTTEAM01"),
        pass_key.public_key(),
        wwdr_name,
        wwdr_key,
        365,
        ca=False,
        extensions=[devpki.x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])],
    )
    pem = serialization.Encoding.PEM
    (directory / "wwdr.pem").write_bytes(wwdr.public_bytes(pem))
    (directory / "root.pem").write_bytes(root.public_bytes(pem))
    (directory / "pass.pem").write_bytes(certificate.public_bytes(pem))
    (directory / "pass.key").write_bytes(devpki._private_pem(pass_key))
    return directory


def settings(pki: Path, **extra: object) -> dict[str, object]:
    return {
        "PUBLIC_BASE_URL": "https://wallet.example",
        "SECRET_KEY": LONG_KEY,
        "PASS_CERT_FILE": str(pki / "pass.pem"),
        "PASS_KEY_FILE": str(pki / "pass.key"),
        "WWDR_CERT_FILE": str(pki / "wwdr.pem"),
        "DEV_CERTS_DIR": str(pki / "no-dev-certs-here"),
        "APNS_AUTH": "certificate",
        "GOOGLE_ISSUER_ID": None,
        "GOOGLE_SERVICE_ACCOUNT_FILE": None,
        "SMS_PROVIDER": "smsru",
        **extra,
    }


def test_safe_production_settings_pass(real_pki: Path) -> None:
    assert production_problems(settings(real_pki)) == []


@pytest.mark.parametrize("secret", [None, "", config.DEV_SECRET_KEY, SHORT_KEY])
def test_a_missing_default_or_short_secret_key_is_refused(
    real_pki: Path, secret: str | None
) -> None:
    problems = production_problems(settings(real_pki, SECRET_KEY=secret))
    assert len(problems) == 1
    assert problems[0].startswith("SECRET_KEY ")
    if secret:
        assert secret not in problems[0]


def test_development_certificates_and_keys_are_refused(
    real_pki: Path, pki_dir: Path
) -> None:
    dev = settings(
        real_pki,
        PASS_CERT_FILE=str(pki_dir / "pass.pem"),
        WWDR_CERT_FILE=str(pki_dir / "wwdr.pem"),
    )
    assert production_problems(dev) == [
        "PASS_CERT_FILE is a development certificate (dev-certs)",
        "WWDR_CERT_FILE is a development certificate (dev-certs)",
    ]
    # Copied elsewhere, the dev-certs files are still recognised by their names.
    token = settings(
        real_pki, APNS_AUTH="token", APNS_KEY_FILE=str(pki_dir / "apns.p8")
    )
    assert production_problems(token) == [
        "APNS_KEY_FILE is the development APNs key (dev-certs)"
    ]
    # The same key in certificate mode is not used, so not refused.
    assert production_problems({**token, "APNS_AUTH": "certificate"}) == []
    google = settings(
        real_pki,
        GOOGLE_ISSUER_ID="3388000000000000042",
        GOOGLE_SERVICE_ACCOUNT_FILE=str(pki_dir / "google-service-account.json"),
    )
    assert production_problems(google) == [
        "GOOGLE_SERVICE_ACCOUNT_FILE is the development Google key (dev-certs)"
    ]
    copied = real_pki / "copied-google.json"
    copied.write_text((pki_dir / "google-service-account.json").read_text())
    assert production_problems(
        {**google, "GOOGLE_SERVICE_ACCOUNT_FILE": str(copied)}
    ) == ["GOOGLE_SERVICE_ACCOUNT_FILE is the development Google key (dev-certs)"]
    assert production_problems(
        {**google, "GOOGLE_ISSUER_ID": config.DEV_GOOGLE_ISSUER_ID}
    )[0].startswith("GOOGLE_ISSUER_ID ")


def test_http_is_development_and_nothing_is_refused(pki_dir: Path) -> None:
    assert (
        production_problems(
            {
                "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
                "SECRET_KEY": config.DEV_SECRET_KEY,
                "PASS_CERT_FILE": str(pki_dir / "pass.pem"),
                "WWDR_CERT_FILE": str(pki_dir / "wwdr.pem"),
            }
        )
        == []
    )


def test_web_service_url_must_be_https_when_the_base_url_is(real_pki: Path) -> None:
    # An upper-case scheme is still https, but the webServiceURL built from it
    # would not start with https:// (Wallet would ignore it).
    problems = production_problems(
        settings(real_pki, PUBLIC_BASE_URL="HTTPS://wallet.example")
    )
    assert problems == ["PUBLIC_BASE_URL must start with https:// (webServiceURL)"]


def test_create_app_refuses_and_testing_opts_out(pki_dir: Path, tmp_path: Path) -> None:
    unsafe = {
        "PUBLIC_BASE_URL": "https://wallet.example",
        "SECRET_KEY": SHORT_KEY,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        "PASS_CERT_FILE": str(pki_dir / "pass.pem"),
        "WWDR_CERT_FILE": str(pki_dir / "wwdr.pem"),
    }
    with pytest.raises(UnsafeSettings) as refused:
        create_app({**unsafe, "TESTING": False})
    line = str(refused.value)
    assert "\n" not in line
    assert "SECRET_KEY" in line
    assert "PASS_CERT_FILE" in line
    assert SHORT_KEY not in line
    # Only code can set TESTING (the environment cannot): the test suite's way.
    assert create_app({**unsafe, "TESTING": True}).config["TESTING"]


def test_the_development_google_key_is_not_picked_up_in_production(
    monkeypatch: pytest.MonkeyPatch, pki_dir: Path
) -> None:
    for name in ("GOOGLE_ISSUER_ID", "GOOGLE_SERVICE_ACCOUNT_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEV_CERTS_DIR", str(pki_dir))
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    assert config.from_environment()["GOOGLE_ISSUER_ID"] == config.DEV_GOOGLE_ISSUER_ID
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://wallet.example")
    assert config.from_environment()["GOOGLE_ISSUER_ID"] is None


# -- real processes ------------------------------------------------------------------
SETTINGS = (
    "SECRET_KEY",
    "PUBLIC_BASE_URL",
    "PASS_CERT_FILE",
    "PASS_KEY_FILE",
    "WWDR_CERT_FILE",
    "DEV_CERTS_DIR",
    "APNS_AUTH",
    "APNS_KEY_FILE",
    "GOOGLE_ISSUER_ID",
    "GOOGLE_SERVICE_ACCOUNT_FILE",
    "SMS_PROVIDER",
    "DATABASE_URL",
)


def environment(pki: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    values = {k: v for k, v in settings(pki).items() if v is not None}
    env.update({k: str(v) for k, v in values.items()})
    env.update(
        DATABASE_URL=database_url,
        PASS_TYPE_IDENTIFIER=TOPIC,
        TEAM_IDENTIFIER="TESTTEAM01",
    )
    env.update(extra)
    return env


def messages(output: str) -> list[str]:
    """The lines that are not gunicorn's own log lines ("[date] [pid] [INFO] ...")."""
    return [line for line in output.splitlines() if not line.startswith("[")]


def gunicorn(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    port = free_port()
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env={**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_gunicorn_refuses_a_short_secret_key_in_one_line(
    real_pki: Path, tmp_path: Path
) -> None:
    env = environment(
        real_pki, f"sqlite:///{tmp_path / 'db.sqlite3'}", SECRET_KEY=SHORT_KEY
    )
    result = gunicorn(env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert len(messages(output)) == 1, output
    assert "SECRET_KEY" in messages(output)[0]
    assert "PASS_CERT_FILE" not in output
    assert SHORT_KEY not in output
    assert "Traceback" not in output
    # And without gunicorn.conf.py's check, the workers refuse: the master stops.
    port = free_port()
    bare = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "/dev/null",  # no gunicorn.conf.py: no hooks
            "--bind",
            f"127.0.0.1:{port}",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bare.returncode != 0
    assert SHORT_KEY not in bare.stdout + bare.stderr


def test_gunicorn_refuses_development_certificates(
    real_pki: Path, pki_dir: Path, tmp_path: Path
) -> None:
    env = environment(
        real_pki,
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PASS_CERT_FILE=str(pki_dir / "pass.pem"),
        PASS_KEY_FILE=str(pki_dir / "pass.key"),
    )
    result = gunicorn(env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    lines = messages(output)
    assert len(lines) == 1, output
    assert "PASS_CERT_FILE is a development certificate" in lines[0]
    assert "SECRET_KEY" not in lines[0]


def test_flask_cli_refuses_and_check_certs_reports_the_same(
    real_pki: Path, database_url: str
) -> None:
    env = environment(real_pki, database_url, SECRET_KEY=SHORT_KEY)
    refused = flask(env, "routes")
    assert refused.returncode != 0
    assert refused.stdout == ""
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "SECRET_KEY is shorter than 32 characters" in refused.stderr
    assert SHORT_KEY not in refused.stderr
    assert flask(env, "init-db").returncode != 0  # a worker would not start either

    # check-certs runs and lists the problem among its findings (exit 1).
    migrate = flask({**env, "SECRET_KEY": LONG_KEY}, "init-db")
    assert migrate.returncode == 0, migrate.stderr
    checked = flask(env, "check-certs")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "ERROR   SECRET_KEY is shorter than 32 characters" in checked.stdout
    assert "ok      pass certificate key: matches" in checked.stdout
    assert SHORT_KEY not in checked.stdout + checked.stderr
    fine = flask({**env, "SECRET_KEY": LONG_KEY}, "check-certs")
    assert "SECRET_KEY" not in fine.stdout
    assert "ERROR" not in fine.stdout, fine.stdout


def test_flask_cli_and_check_certs_name_development_certificates(
    real_pki: Path, pki_dir: Path, database_url: str
) -> None:
    env = environment(
        real_pki,
        database_url,
        PASS_CERT_FILE=str(pki_dir / "pass.pem"),
        PASS_KEY_FILE=str(pki_dir / "pass.key"),
        WWDR_CERT_FILE=str(pki_dir / "wwdr.pem"),
    )
    refused = flask(env, "routes")
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "PASS_CERT_FILE is a development certificate" in refused.stderr
    assert "WWDR_CERT_FILE is a development certificate" in refused.stderr
    assert flask({**env, "PUBLIC_BASE_URL": "http://x"}, "init-db").returncode == 0
    checked = flask(env, "check-certs")
    assert checked.returncode == 1
    assert "ERROR   PASS_CERT_FILE is a development certificate" in checked.stdout
    assert "ERROR   WWDR_CERT_FILE is a development certificate" in checked.stdout


def test_http_starts_as_today_without_a_secret_key(
    pki_dir: Path, tmp_path: Path
) -> None:
    env = environment(
        pki_dir,
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PUBLIC_BASE_URL="http://127.0.0.1:5000",
        DEV_CERTS_DIR=str(pki_dir),
    )
    del env["SECRET_KEY"]
    result = flask(env, "routes")
    assert result.returncode == 0, result.stderr
    assert "/admin/login" in result.stdout


def test_check_certs_names_a_brand_with_development_certificates(
    pki_dir: Path, real_pki: Path, tmp_path: Path
) -> None:
    from app.extensions import db
    from app.services.demo import seed_demo
    from tests.conftest import base_config

    app = create_app(
        {
            **base_config(pki_dir),
            **settings(real_pki),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        program = seed_demo()
        program.pass_cert_file = str(pki_dir / "pass.pem")
        program.pass_key_file = str(pki_dir / "pass.key")
        program.wwdr_cert_file = str(pki_dir / "wwdr.pem")
        db.session.commit()
        slug = program.slug
    app.config["TESTING"] = False  # as in production
    result = app.test_cli_runner().invoke(args=["check-certs"])
    assert result.exit_code == 1
    assert (
        f"ERROR   program {slug}: pass certificate is a development certificate"
        in result.output
    )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_console_sms_provider_is_refused_in_production(real_pki: Path) -> None:
    # The console provider logs card links, which open cards: development only.
    assert production_problems(settings(real_pki, SMS_PROVIDER="console")) == [
        "SMS_PROVIDER is console (development: card links go to the log); "
        "set smsru and SMS_API_ID"
    ]
    assert production_problems(settings(real_pki)) == []
    # Not production: nothing checked.
    http = settings(real_pki, PUBLIC_BASE_URL="http://127.0.0.1:5000")
    assert production_problems({**http, "SMS_PROVIDER": "console"}) == []
