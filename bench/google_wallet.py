"""Google Wallet building cost, next to the Apple pass.json as the baseline.

Times, per member: Apple's pass.json (baseline), the Google loyalty object, the
loyalty class, and the signed Save link (one RS256 signature), in one run.

    .venv/bin/python bench/google_wallet.py [--members 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from google.auth import crypt  # noqa: E402

import passes  # noqa: E402
from passes import google  # noqa: E402


def program() -> passes.Program:
    return passes.Program(
        pass_type_identifier="pass.bench",
        team_identifier="TEAM",
        organization_name="Северная Мода",
        description="Карта",
        logo_text="Северная Мода",
        design=passes.Design("Severnaya", "#1b2a41", "#ffffff", "#c9d6ea", "#e0b15c"),
        web_service_url="https://wallet.example/wallet",
        terms={"ru": "1 балл = 1 ₽", "en": "1 point = 1 RUB"},
        google=passes.GoogleProgram(
            issuer_id="3388000000000000000",
            class_suffix="severnaya",
            program_name={"ru": "Северная Мода", "en": "Severnaya Moda"},
            logo_url="https://wallet.example/programs/severnaya/logo.png",
            callback_url="https://wallet.example/google/callbacks",
        ),
    )


def member(i: int) -> passes.Member:
    return passes.Member(
        serial_number=f"{i:020x}",
        authentication_token="t" * 32,
        card_number="412345678903",
        barcode_message="412345678903-ABCDEFGHIJ",
        name="Анна Смирнова",
        language="ru",
        points=i,
        tier={"ru": "Золото", "en": "Gold"},
        offer="−20 % на пальто",
        card_url=f"https://wallet.example/c/{i}",
        privacy_url=f"https://wallet.example/c/{i}#privacy",
    )


def rate(n: int, work: Callable[[int], object]) -> tuple[float, float]:
    start = time.perf_counter()
    for i in range(n):
        work(i)
    elapsed = time.perf_counter() - start
    return n / elapsed, elapsed / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=2000)
    args = parser.parse_args()
    n = args.members
    prog = program()
    stores = [
        passes.Store(i, f"Store {i}", "Street", "Москва", 55.7 + i / 100, 37.6, "")
        for i in range(10)
    ]
    members = [member(i) for i in range(n)]
    pki = passes.make_dev_pki("pass.bench", "TEAM", "Bench")
    signer = crypt.RSASigner.from_service_account_info(pki.google_service_account)
    email = pki.google_service_account["client_email"]

    def save_link(i: int) -> str:
        m = members[i]
        claims = google.save_jwt_claims(
            email,
            google.object_id(prog, m),
            google.class_id(prog),
            ["https://wallet.example"],
        )
        return google.save_url(signer, claims)

    rows = [
        (
            "Apple pass.json (baseline)",
            rate(
                n,
                lambda i: json.dumps(passes.build_pass_json(prog, members[i], stores)),
            ),
        ),
        (
            "Google loyalty object",
            rate(
                n,
                lambda i: json.dumps(
                    google.build_loyalty_object(prog, members[i], stores)
                ),
            ),
        ),
        (
            "Google loyalty class",
            rate(n, lambda i: json.dumps(google.build_loyalty_class(prog))),
        ),
        ("Save link (RS256 JWT)", rate(n, save_link)),
    ]
    print(f"members: {n}, one core\n")
    print("| step | per second | µs each |")
    print("|---|---:|---:|")
    for name, (per_second, micros) in rows:
        print(f"| {name} | {per_second:,.0f} | {micros:,.1f} |")
    print(f"\nSave link length: {len(save_link(0))} characters (limit 1,800)")


if __name__ == "__main__":
    main()
