"""The .pkpass: pass.json, images, localisations, manifest and signature, zipped."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from passes.errors import PassSigningError
from passes.images import fingerprint_parts, image_sha1, render_images
from passes.model import Member, Program, Store
from passes.passjson import build_pass_json, strings_files
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
    files.update(strings_files(program, member))
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


# ZIP records (PKWARE APPNOTE 4.3.7, 4.3.12, 4.3.16), as zipfile writes them for a
# stored entry: version 2.0, made on Unix, mode 0600, no extra fields.
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_DOS_TIME = (_ZIP_TIME[3] << 11) | (_ZIP_TIME[4] << 5) | (_ZIP_TIME[5] // 2)
_DOS_DATE = ((_ZIP_TIME[0] - 1980) << 9) | (_ZIP_TIME[1] << 5) | _ZIP_TIME[2]


class _Entry(NamedTuple):
    local: bytes  # local header + data
    name: bytes
    crc: int
    size: int
    flags: int


def _entry(name: str, data: bytes) -> _Entry:
    try:
        encoded, flags = name.encode("ascii"), 0
    except UnicodeEncodeError:
        encoded, flags = name.encode(), 0x800  # UTF-8 name
    crc, size = zlib.crc32(data), len(data)
    header = _LOCAL.pack(
        0x04034B50, 20, flags, 0, _DOS_TIME, _DOS_DATE, crc, size, size,
        len(encoded), 0,
    )  # fmt: skip
    return _Entry(header + encoded + data, encoded, crc, size, flags)


@lru_cache(maxsize=512)
def _steady_entry(name: str, data: bytes) -> _Entry:
    # The design's images: the same bytes objects for every pass of the design
    # (render_images is cached), so the key's hash is computed once.
    return _entry(name, data)


def zip_pass(files: dict[str, bytes], steady: Collection[str] = ()) -> bytes:
    """Zip the files at the archive root, stored uncompressed.

    Deflate's per-entry set-up cost more CPU than the RSA signature (0.35 ms against
    0.33 ms per pass, `bench/passgen.py`) to save about 5 KB of 25 KB. The entries
    named in `steady` (the images, equal for every pass of a design) are built
    once with their CRC-32 and reused; the archive is the one zipfile writes.
    """
    shared, own = zip_parts(files, steady)
    return shared + own


@lru_cache(maxsize=64)
def _joined(entries: tuple[_Entry, ...]) -> bytes:
    # The same cached entries give the same bytes object (its hash then cached).
    return b"".join(entry.local for entry in entries)


@lru_cache(maxsize=64)
def shared_digest(shared: bytes) -> str:
    """SHA-256 (hex) of an archive's shared part: what a store of signed passes
    keys it by (content-addressed, so a changed design is a new key)."""
    return hashlib.sha256(shared).hexdigest()


def zip_parts(
    files: dict[str, bytes], steady: Collection[str] = ()
) -> tuple[bytes, bytes]:
    """`zip_pass` in two parts whose concatenation is the archive: the leading
    entries named in `steady` (the design's images when they come first: the
    same bytes for every pass of the design, one cached object), and the rest
    (this pass's own entries and the central directory)."""
    leading: list[_Entry] = []
    parts: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, data in files.items():
        steady_entry = name in steady
        entry = _steady_entry(name, data) if steady_entry else _entry(name, data)
        central.append(
            _CENTRAL.pack(
                0x02014B50,
                0x0314,
                20,
                entry.flags,
                0,
                _DOS_TIME,
                _DOS_DATE,
                entry.crc,
                entry.size,
                entry.size,
                len(entry.name),
                0,
                0,
                0,
                0,
                0o600 << 16,
                offset,
            )
            + entry.name
        )
        if steady_entry and len(leading) == len(central) - 1:
            leading.append(entry)
        else:
            parts.append(entry.local)
        offset += len(entry.local)
    directory = b"".join(central)
    end = _END.pack(
        0x06054B50, 0, 0, len(central), len(central), len(directory), offset, 0
    )
    return _joined(tuple(leading)), b"".join(parts) + directory + end


def build_pkpass(
    program: Program, member: Member, stores: Sequence[Store], signer: Signer
) -> bytes:
    """A signed .pkpass for the member's card."""
    shared, own = build_pkpass_parts(program, member, stores, signer)
    return shared + own


def build_pkpass_parts(
    program: Program, member: Member, stores: Sequence[Store], signer: Signer
) -> tuple[bytes, bytes]:
    """`build_pkpass` as (shared, own), concatenated the archive: the design's
    image entries come first, so `shared` is the same bytes object for every
    pass of the design; `own` is the pass's own entries (pass.json, strings,
    manifest, signature) and the zip's directory (13 KB of the demo pass's
    38 KB, `bench/passgen.py`). A store of signed passes keeps `shared` once
    per design (`shared_digest`)."""
    if (program.pass_type_identifier, program.team_identifier) != (
        signer.pass_type_identifier,
        signer.team_identifier,
    ):
        raise PassSigningError(
            f"the pass certificate is for {signer.pass_type_identifier} "
            f"(team {signer.team_identifier}), not {program.pass_type_identifier} "
            f"(team {program.team_identifier}); Wallet would refuse the pass"
        )
    images = render_images(program.design)
    # The images first: then they are the archive's shared leading part.
    files = {**images, **build_files(program, member, stores)}
    manifest = build_manifest(files, image_sha1(program.design))
    files["manifest.json"] = manifest
    files["signature"] = signer.sign(manifest)
    return zip_parts(files, steady=images.keys())
