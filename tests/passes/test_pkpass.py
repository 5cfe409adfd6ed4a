"""The signed .pkpass: archive layout, manifest hashes, and `openssl cms -verify`."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import passes
from tests.passes.conftest import make_member
from tests.support.openssl import cms_verify, verify_pkpass

IMAGES = {
    f"{name}{suffix}.png"
    for name in ("icon", "logo", "strip")
    for suffix in ("", "@2x", "@3x")
}


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def pkpass(program, member, stores, signer) -> bytes:
    return passes.build_pkpass(program, member, stores, signer)


def test_archive_holds_exactly_the_pass_files_at_its_root(pkpass: bytes) -> None:
    files = unzip(pkpass)
    assert set(files) == {
        "pass.json",
        "manifest.json",
        "signature",
        "ru.lproj/pass.strings",
        "en.lproj/pass.strings",
        *IMAGES,
    }


def test_manifest_lists_the_sha1_of_every_other_file(pkpass: bytes) -> None:
    files = unzip(pkpass)
    manifest = json.loads(files["manifest.json"])
    assert set(manifest) == set(files) - {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert hashlib.sha1(files[name]).hexdigest() == digest, name


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("openssl")
    assert executable, "openssl is needed to verify signatures"
    return subprocess.run(
        [executable, *args], capture_output=True, text=True, check=False
    )


def test_signature_verifies_with_openssl_against_the_dev_ca(
    pkpass: bytes, pki_files: dict[str, Path], tmp_path: Path
) -> None:
    verify_pkpass(pkpass, pki_files["ca.pem"], tmp_path)


def test_signature_fails_for_a_tampered_manifest(
    pkpass: bytes, pki_files: dict[str, Path], tmp_path: Path
) -> None:
    files = unzip(pkpass)
    tampered = files["manifest.json"].replace(b'"pass.json":"', b'"pass.json":"0')
    assert tampered != files["manifest.json"]
    result = cms_verify(tampered, files["signature"], pki_files["ca.pem"], tmp_path)
    assert result.returncode != 0


def test_signature_embeds_wwdr_and_has_a_signing_time(
    pkpass: bytes, pki: passes.DevPKI, tmp_path: Path
) -> None:
    (tmp_path / "signature").write_bytes(unzip(pkpass)["signature"])
    certs = openssl(
        "pkcs7", "-inform", "DER", "-in", str(tmp_path / "signature"),
        "-print_certs", "-noout",
    )  # fmt: skip
    assert certs.returncode == 0, certs.stderr
    assert "Pass Type ID: pass.test.wallet.loyalty" in certs.stdout
    assert "OU=G4" in certs.stdout.replace(" = ", "=")
    printed = openssl(
        "cms", "-cmsout", "-print", "-inform", "DER",
        "-in", str(tmp_path / "signature"),
    )  # fmt: skip
    assert "signingTime" in printed.stdout
    assert "eContent: <ABSENT>" in printed.stdout  # detached


def test_every_text_file_is_utf8_and_newlines_survive_signing(
    program, stores, signer, pki_files, tmp_path: Path
) -> None:
    # Terms contain a newline; without PKCS7 Binary the digest would not match.
    data = passes.build_pkpass(program, make_member(language="en"), stores, signer)
    files = unzip(data)
    assert b"\\n" in files["ru.lproj/pass.strings"]
    files["ru.lproj/pass.strings"].decode("utf-8")
    verify_pkpass(data, pki_files["ca.pem"], tmp_path)


def test_certificate_of_another_pass_type_is_refused(
    program, member, stores, signer
) -> None:
    from dataclasses import replace

    other = replace(program, pass_type_identifier="pass.other.type")
    with pytest.raises(passes.PassSigningError, match="certificate is for"):
        passes.build_pkpass(other, member, stores, signer)


def test_signer_checks_key_issuer_and_expiry(pki_files: dict[str, Path]) -> None:
    cert = pki_files["pass.pem"].read_bytes()
    key = pki_files["pass.key"].read_bytes()
    wwdr = pki_files["wwdr.pem"].read_bytes()
    other = passes.make_dev_pki("pass.x", "TEAMX", "Other")
    other_files = passes.write_dev_pki(other, pki_files["ca.pem"].parent / "other")
    with pytest.raises(passes.PassSigningError, match="does not match"):
        passes.Signer.from_pem(cert, other_files["pass.key"].read_bytes(), wwdr)
    with pytest.raises(passes.PassSigningError, match="did not issue"):
        passes.Signer.from_pem(cert, key, other_files["wwdr.pem"].read_bytes())
    with pytest.raises(passes.PassSigningError, match="cannot be read"):
        passes.Signer.from_pem(cert, b"not a key", wwdr)
    with pytest.raises(passes.PassSigningError, match="not PEM"):
        passes.Signer.from_pem(b"junk", key, wwdr)
    signer = passes.Signer.from_pem(cert, key, wwdr)
    signer.check_usable()
    with pytest.raises(passes.PassSigningError, match="expired"):
        signer.check_usable(datetime.now(UTC) + timedelta(days=400))


def test_dev_keys_are_private_to_the_owner(pki_files: dict[str, Path]) -> None:
    for name in ("pass.key", "apns.p8", "google-service-account.json"):
        assert pki_files[name].stat().st_mode & 0o077 == 0, name


def test_images_are_rendered_once_per_design(program) -> None:
    passes.render_images.cache_clear()
    first = passes.render_images(program.design)
    again = passes.render_images(program.design)
    assert first is again
    assert passes.render_images.cache_info().misses == 1
    assert set(first) == IMAGES
    from PIL import Image

    assert Image.open(io.BytesIO(first["icon@3x.png"])).size == (87, 87)
    assert Image.open(io.BytesIO(first["strip@2x.png"])).size == (750, 246)


def test_content_fingerprint_follows_what_the_pass_shows(
    program, member, stores
) -> None:
    base = passes.content_fingerprint(program, member, stores)
    assert passes.content_fingerprint(program, make_member(), stores) == base
    assert passes.content_fingerprint(program, make_member(points=1), stores) != base
    assert passes.content_fingerprint(program, member, stores[:3]) != base


def test_the_archive_is_the_one_zipfile_writes(program) -> None:
    """zip_pass writes the stored entries itself (the images' entries built once
    per design): byte for byte what zipfile writes, readable and CRC-checked."""
    from passes.package import _ZIP_TIME, zip_pass

    files = {
        "pass.json": b'{"a": 1}',
        "ru.lproj/pass.strings": '"k" = "значение";\n'.encode(),
        "страница.txt": b"a name that is not ASCII",
        "empty": b"",
        **passes.render_images(program.design),
    }
    expected = io.BytesIO()
    with zipfile.ZipFile(expected, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), data)
    images = passes.render_images(program.design).keys()
    for _ in range(2):  # the second time from the cached image entries
        written = zip_pass(files, steady=images)
        assert written == expected.getvalue()
    with zipfile.ZipFile(io.BytesIO(written)) as archive:
        assert archive.testzip() is None
        assert {name: archive.read(name) for name in archive.namelist()} == files
