"""Signed .pkpass generation on one core, next to its floor (one bare PKCS#7 signature).

Builds the demo program's pass («Северная Мода», 10 nearest stores, ru/en strings,
9 images) again and again in one thread, and in the same run signs the same
manifest.json with nothing else around it: the RSA-bound floor a pass cannot beat.
CPU time (process_time) is reported next to wall time.

    .venv/bin/python bench/passgen.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

import passes  # noqa: E402
from app.services.demo import DEMO_STORES, TEXTS  # noqa: E402

PASS_TYPE, TEAM = "pass.bench.wallet", "BENCHTEAM1"
SECRET = b"bench-secret"


def demo_inputs() -> tuple[passes.Program, passes.Member, list[passes.Store]]:
    program = passes.Program(
        pass_type_identifier=PASS_TYPE,
        team_identifier=TEAM,
        organization_name="Северная Мода",
        description="Карта лояльности «Северная Мода»",
        logo_text="Северная Мода",
        design=passes.Design(
            "Severnaya Moda", "#1b2a41", "#ffffff", "#c9d6ea", "#e0b15c"
        ),
        web_service_url="https://wallet.example/wallet",
        terms=TEXTS["terms"],
        contacts=TEXTS["contacts"],
    )
    stores = [
        passes.Store(i, name, address, city, lat, lon, f"«Северная Мода» рядом: {name}")
        for i, (_, name, city, address, lat, lon) in enumerate(DEMO_STORES, 1)
    ]
    card = passes.new_card_number()
    member = passes.Member(
        serial_number="0123456789abcdef0123",
        authentication_token="A" * 32,
        card_number=card,
        barcode_message=passes.barcode_payload(card, SECRET),
        name="Анна Смирнова",
        language="ru",
        points=1250,
        tier={"ru": "Золото", "en": "Gold"},
        offer="−20% на верхнюю одежду до 30.11",
        card_url="https://wallet.example/c/token",
        privacy_url="https://wallet.example/c/token#privacy",
    )
    nearest = passes.nearest_stores(stores, 55.7574, 37.6592)
    return program, member, nearest


def photo(width: int, height: int) -> bytes:
    """A photo-like PNG (gradient and grain: compresses like a real photo)."""
    grain = Image.effect_noise((width, height), 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    buffer = io.BytesIO()
    Image.blend(gradient, grain, 0.35).save(buffer, format="PNG")
    return buffer.getvalue()


def uploaded(program: passes.Program) -> tuple[passes.Program, float, float]:
    """The program with an uploaded icon, logo and photo strip; the seconds the
    three uploads took to check and normalise, and their first render."""
    started = time.perf_counter()
    art = {}
    sizes = {"icon": (300, 300), "logo": (600, 200), "strip": (1500, 500)}
    for kind, size in sizes.items():
        png = passes.normalise_upload(kind, photo(*size)).png
        art[kind] = passes.Artwork(hashlib.sha256(png).hexdigest(), png)
    normalised = time.perf_counter() - started
    design = dataclasses.replace(program.design, **art)
    started = time.perf_counter()
    passes.render_images(design)
    rendered = time.perf_counter() - started
    return dataclasses.replace(program, design=design), normalised, rendered


def rate(fn: Callable[[], object], seconds: float) -> tuple[float, float, int]:
    """(per second by wall clock, CPU ms per call, calls) over `seconds`."""
    for _ in range(20):
        fn()
    calls = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = wall0 + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            fn()
        calls += 20
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return calls / wall, cpu / calls * 1000, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    pki = passes.make_dev_pki(PASS_TYPE, TEAM, "Bench")
    files = passes.write_dev_pki(pki, Path(tempfile.mkdtemp(prefix="bench-pass-")))
    signer = passes.Signer.from_pem(
        files["pass.pem"].read_bytes(),
        files["pass.key"].read_bytes(),
        files["wwdr.pem"].read_bytes(),
    )
    program, member, stores = demo_inputs()
    passes.render_images(program.design)  # rendered once per design, then cached
    manifest = passes.build_manifest(passes.build_files(program, member, stores))
    size = len(passes.build_pkpass(program, member, stores, signer))
    # What the signed-pass cache stores per pass (the design's part once).
    shared, own = passes.build_pkpass_parts(program, member, stores, signer)
    branded, normalised, rendered = uploaded(program)
    branded_size = len(passes.build_pkpass(branded, member, stores, signer))

    rows = [
        ("floor: PKCS#7 signature of the manifest", lambda: signer.sign(manifest)),
        (
            "signed .pkpass (build + manifest + sign + zip)",
            lambda: passes.build_pkpass(program, member, stores, signer),
        ),
        (
            "  of which unsigned files (pass.json, strings)",
            lambda: passes.build_files(program, member, stores),
        ),
        (
            "content fingerprint (tag decision)",
            lambda: passes.content_fingerprint(program, member, stores),
        ),
        (
            "signed .pkpass, uploaded icon + logo + photo strip",
            lambda: passes.build_pkpass(branded, member, stores, signer),
        ),
        (
            "content fingerprint, uploaded images",
            lambda: passes.content_fingerprint(branded, member, stores),
        ),
    ]
    results = [(name, *rate(fn, args.seconds)) for name, fn in rows]
    floor_cpu = results[0][2]
    print(
        f"\npass generation, one thread, {args.seconds:g} s each; .pkpass is "
        f"{size:,} bytes ({branded_size:,} with the uploads): the design's "
        f"shared part {len(shared):,}, the pass's own {len(own):,}; RSA-2048, "
        f"SHA-256 (cpu: {os.cpu_count()} cores)\n"
    )
    print("| measure | per second | CPU ms each | vs floor |")
    print("|---|---|---|---|")
    for name, per_second, cpu_ms, _ in results:
        ratio = cpu_ms / floor_cpu
        print(f"| {name} | {per_second:,.0f} | {cpu_ms:.3f} | {ratio:.2f}x |")
    print(
        f"\nonce per upload/design: checking and normalising the three uploads "
        f"{normalised * 1000:.0f} ms, their first render at @1x/@2x/@3x "
        f"{rendered * 1000:.0f} ms (then cached)"
    )


if __name__ == "__main__":
    main()
