"""Verify a .pkpass signature the way Apple's docs show it, with the openssl CLI."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path


def cms_verify(
    manifest: bytes, signature: bytes, ca_file: Path, work: Path
) -> subprocess.CompletedProcess[str]:
    """`openssl cms -verify -binary` of a detached DER signature against `ca_file`."""
    executable = shutil.which("openssl")
    assert executable, "openssl is needed to verify signatures"
    (work / "manifest.json").write_bytes(manifest)
    (work / "signature").write_bytes(signature)
    return subprocess.run(
        [executable, "cms", "-verify", "-binary", "-inform", "DER",
         "-in", str(work / "signature"), "-content", str(work / "manifest.json"),
         "-CAfile", str(ca_file), "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def verify_pkpass(data: bytes, ca_file: Path, work: Path) -> zipfile.ZipFile:
    """Assert that a .pkpass's signature verifies; return the opened archive."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    result = cms_verify(
        archive.read("manifest.json"), archive.read("signature"), ca_file, work
    )
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    return archive
