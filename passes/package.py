"""The .pkpass: pass.json, images, localisations, manifest and signature, zipped."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

from passes.errors import PassSigningError
from passes.images import fingerprint_parts, image_sha1, render_images
from passes.model import Member, Program, Store
from passes.passjson import build_pass_json, build_strings, encode_strings
from passes.signing import Signer

MIMETYPE = "application/vnd.apple.pkpass"
# A fixed timestamp inside the zip: the same pass content gives the same archive
# entries (only the signature, with its signing time, differs between builds).
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def build_files(
    program: Program, member: Member, stores: Sequence[Store]
) -> dict[str, bytes]:
    """Every file of the pass except manifest.json and signature."""
    files = {"pass.json": _json_bytes(build_pass_json(program, member, stores))}
    for language, table in build_strings(program, member).items():
        files[f"{language}.lproj/pass.strings"] = encode_strings(table)
    for name, image in render_images(program.design).items():
        files[name] = image
    return files


def content_fingerprint(
    program: Program, member: Member, stores: Sequence[Store]
) -> str:
    """SHA-256 over everything the pass shows: equal fingerprints, equal passes.
    Images count by `fingerprint_parts` (cached per design)."""
    parts = fingerprint_parts(program.design)
    digest = hashlib.sha256()
    for name, data in sorted(build_files(program, member, stores).items()):
        digest.update(name.encode() + b"\0")
        digest.update(parts.get(name, data))
        digest.update(b"\0")
    return digest.hexdigest()


def build_manifest(
    files: dict[str, bytes], known: Mapping[str, str] | None = None
) -> bytes:
    """manifest.json: the SHA-1 (hex) of every file, by its path in the archive.
    `known`: SHA-1s already computed for some of these files (the images)."""
    known = known or {}
    return _json_bytes(
        {name: known.get(name) or _sha1(data) for name, data in files.items()}
    )


def zip_pass(files: dict[str, bytes]) -> bytes:
    """Zip the files at the archive root, stored uncompressed.

    Deflate's per-entry set-up cost more CPU than the RSA signature (0.35 ms against
    0.33 ms per pass, `bench/passgen.py`) to save about 5 KB of 25 KB.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), data)
    return buffer.getvalue()


def build_pkpass(
    program: Program, member: Member, stores: Sequence[Store], signer: Signer
) -> bytes:
    """A signed .pkpass for the member's card."""
    if (program.pass_type_identifier, program.team_identifier) != (
        signer.pass_type_identifier,
        signer.team_identifier,
    ):
        raise PassSigningError(
            f"the pass certificate is for {signer.pass_type_identifier} "
            f"(team {signer.team_identifier}), not {program.pass_type_identifier} "
            f"(team {program.team_identifier}); Wallet would refuse the pass"
        )
    files = build_files(program, member, stores)
    manifest = build_manifest(files, image_sha1(program.design))
    files["manifest.json"] = manifest
    files["signature"] = signer.sign(manifest)
    return zip_pass(files)
