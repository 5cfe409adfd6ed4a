"""Google Wallet class, object and Save link, checked against Google's own schema."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from google.auth import crypt
from google.auth import jwt as google_jwt

import passes
from passes import google
from tests.support import google_schema
from tests.support.google_server import verify_rs256

ISSUER = "3388000000000000123"


def make_program(**google_changes: object) -> passes.Program:
    settings = passes.GoogleProgram(
        issuer_id=ISSUER,
        class_suffix="severnaya",
        program_name={"ru": "Северная Мода", "en": "Severnaya Moda"},
        logo_url="https://wallet.test/programs/severnaya/logo.png?v=1",
        homepage_url="https://wallet.test/join/severnaya",
        callback_url="https://wallet.test/google/callbacks",
    )
    return passes.Program(
        pass_type_identifier="pass.test.wallet",
        team_identifier="TEAM",
        organization_name="Северная Мода",
        description="Карта",
        logo_text="Северная Мода",
        design=passes.Design("Severnaya", "#1b2a41", "#ffffff", "#c9d6ea", "#e0b15c"),
        web_service_url="https://wallet.test/wallet",
        terms={"ru": "1 балл = 1 ₽", "en": "1 point = 1 RUB"},
        contacts={"ru": "8 800 555-35-35", "en": "+7 800 555-35-35"},
        google=replace(settings, **google_changes),  # type: ignore[arg-type]
    )


def make_member(**changes: object) -> passes.Member:
    member = passes.Member(
        serial_number="a1b2c3d4e5f6a7b8c9d0",
        authentication_token="token-token-token-token",
        card_number="412345678903",
        barcode_message="412345678903-ABCDEFGHIJ",
        name="Анна Смирнова",
        language="ru",
        points=1250,
        tier={"ru": "Золото", "en": "Gold"},
        offer="−20 % на пальто до воскресенья",
        card_url="https://wallet.test/c/TOKEN",
        privacy_url="https://wallet.test/c/TOKEN#privacy",
    )
    return replace(member, **changes)  # type: ignore[arg-type]


def make_stores(count: int) -> list[passes.Store]:
    return [
        passes.Store(i, f"Store {i}", f"Street {i}", "Москва", 55.7 + i / 100, 37.6, "")
        for i in range(count)
    ]


def test_class_validates_against_the_discovery_schema() -> None:
    loyalty_class = google.build_loyalty_class(make_program())
    assert google_schema.errors("LoyaltyClass", loyalty_class) == []
    assert loyalty_class["id"] == f"{ISSUER}.severnaya"
    assert loyalty_class["reviewStatus"] == "UNDER_REVIEW"
    assert loyalty_class["hexBackgroundColor"] == "#1b2a41"
    assert loyalty_class["callbackOptions"] == {
        "url": "https://wallet.test/google/callbacks"
    }
    names = loyalty_class["localizedProgramName"]
    assert names["defaultValue"] == {"language": "ru", "value": "Северная Мода"}
    assert names["translatedValues"] == [{"language": "en", "value": "Severnaya Moda"}]


def test_object_validates_and_mirrors_the_apple_pass() -> None:
    program, member, stores = make_program(), make_member(), make_stores(12)
    loyalty_object = google.build_loyalty_object(program, member, stores)
    assert google_schema.errors("LoyaltyObject", loyalty_object) == []
    pass_json = passes.build_pass_json(program, member, stores)

    assert loyalty_object["id"] == f"{ISSUER}.severnaya.a1b2c3d4e5f6a7b8c9d0"
    assert loyalty_object["classId"] == f"{ISSUER}.severnaya"
    assert loyalty_object["state"] == "ACTIVE"
    assert loyalty_object["loyaltyPoints"]["balance"] == {"int": 1250}
    assert loyalty_object["secondaryLoyaltyPoints"]["balance"] == {"string": "Золото"}
    # The same barcode payload as the Apple pass: POS scans either.
    assert loyalty_object["barcode"]["type"] == "QR_CODE"
    assert loyalty_object["barcode"]["value"] == pass_json["barcodes"][0]["message"]
    # The same up-to-10 nearest stores.
    assert [
        (m["latitude"], m["longitude"]) for m in loyalty_object["merchantLocations"]
    ] == [(loc["latitude"], loc["longitude"]) for loc in pass_json["locations"]]
    assert len(loyalty_object["merchantLocations"]) == 10
    assert "locations" not in loyalty_object  # deprecated: no geo notifications
    offer = loyalty_object["textModulesData"][0]
    assert offer["body"] == "−20 % на пальто до воскресенья"
    uris = [u["uri"] for u in loyalty_object["linksModuleData"]["uris"]]
    assert uris == [member.card_url, member.privacy_url]


def test_english_member_gets_english_defaults() -> None:
    loyalty_object = google.build_loyalty_object(
        make_program(), make_member(language="en", offer=""), []
    )
    assert google_schema.errors("LoyaltyObject", loyalty_object) == []
    assert loyalty_object["loyaltyPoints"]["label"] == "Points"
    assert loyalty_object["secondaryLoyaltyPoints"]["balance"] == {"string": "Gold"}
    assert (
        loyalty_object["textModulesData"][0]["body"] == "Your offers will appear here"
    )
    assert loyalty_object["merchantLocations"] == []


def test_voided_member_is_expired_and_huge_balances_stay_valid() -> None:
    loyalty_object = google.build_loyalty_object(
        make_program(), make_member(voided=True, points=3_000_000_000), []
    )
    assert loyalty_object["state"] == "EXPIRED"
    assert loyalty_object["loyaltyPoints"]["balance"] == {"string": "3000000000"}
    assert google_schema.errors("LoyaltyObject", loyalty_object) == []


def test_unsafe_characters_are_replaced_in_ids() -> None:
    program = make_program(class_suffix="Северная мода!")
    member = make_member(serial_number="a/b c")
    loyalty_object = google.build_loyalty_object(program, member, [])
    assert loyalty_object["classId"] == f"{ISSUER}." + "_" * 14
    assert loyalty_object["id"].endswith(".a_b_c")
    assert google_schema.errors("LoyaltyObject", loyalty_object) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"barcod": {"type": "QR_CODE"}}, "Additional properties"),
        ({"state": "ACTIV"}, "is not one of"),
        ({"loyaltyPoints": {"balance": {"int": "500"}}}, "is not of type 'integer'"),
        ({"loyaltyPoints": {"balance": {"int": 1, "string": "1"}}}, "too many"),
        ({"merchantLocations": [{"latitude": 1, "longitude": 2}] * 11}, "too long"),
        ({"id": "severnaya.member"}, "does not match"),
        ({"textModulesData": [{"id": "a.b", "body": "x"}]}, "does not match"),
    ],
)
def test_the_schema_rejects_mistakes(change: dict[str, object], expected: str) -> None:
    loyalty_object = google.build_loyalty_object(make_program(), make_member(), [])
    loyalty_object.update(change)
    problems = google_schema.errors("LoyaltyObject", loyalty_object)
    assert any(expected in problem for problem in problems), problems


def test_required_fields_apply_to_inserts_not_patches() -> None:
    loyalty_class = google.build_loyalty_class(make_program())
    del loyalty_class["programLogo"]
    assert google_schema.errors("LoyaltyClass", loyalty_class) == [
        "<root>: 'programLogo' is a required property"
    ]
    assert google_schema.errors("LoyaltyClass", loyalty_class, partial=True) == []


def test_program_without_google_settings_is_refused() -> None:
    program = replace(make_program(), google=None)
    with pytest.raises(google.GoogleConfigurationError):
        google.build_loyalty_class(program)


def test_save_link_is_short_signed_and_references_the_object(pki_dir: Path) -> None:
    info = json.loads((pki_dir / "google-service-account.json").read_text())
    signer = crypt.RSASigner.from_service_account_info(info)
    program, member = make_program(), make_member()
    claims = google.save_jwt_claims(
        info["client_email"],
        google.object_id(program, member),
        google.class_id(program),
        [google.origin("https://wallet.test/c/TOKEN")],
        issued_at=1_800_000_000,
    )
    url = google.save_url(signer, claims)
    assert url.startswith("https://pay.google.com/gp/v/save/")
    assert len(url) < 1800

    private_key = serialization.load_pem_private_key(info["private_key"].encode(), None)
    token = url.removeprefix(google.SAVE_URL_PREFIX)
    decoded = verify_rs256(token, private_key.public_key())
    assert google_jwt.decode_header(token)["kid"] == info["private_key_id"]
    assert decoded["iss"] == info["client_email"]
    assert decoded["typ"] == "savetowallet"
    assert decoded["iat"] == 1_800_000_000
    assert decoded["origins"] == ["https://wallet.test"]
    assert decoded["payload"] == {
        "loyaltyObjects": [
            {
                "id": google.object_id(program, member),
                "classId": google.class_id(program),
            }
        ]
    }
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidSignature):
        verify_rs256(tampered, private_key.public_key())


def test_oversized_save_link_is_refused(pki_dir: Path) -> None:
    info = json.loads((pki_dir / "google-service-account.json").read_text())
    signer = crypt.RSASigner.from_service_account_info(info)
    claims = google.save_jwt_claims("a@b", "1.x", "1.y", ["https://" + "o" * 2000])
    with pytest.raises(ValueError, match="over 1,800"):
        google.save_url(signer, claims)


def test_pure_package_imports_neither_flask_nor_sqlalchemy() -> None:
    code = (
        "import sys, passes, passes.google; "
        "print(sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_logo_is_a_square_png() -> None:
    png = passes.render_logo(make_program().design)
    assert png.startswith(b"\x89PNG")
    assert int.from_bytes(png[16:20], "big") == int.from_bytes(png[20:24], "big") == 660


def test_stamps_and_membership_show_like_the_apple_pass() -> None:
    """The stamp card («●●●●○○ 4 из 6», the Apple front's text) and a paid
    membership (the Apple back's text) are text modules; none without them."""
    plain = google.build_loyalty_object(make_program(), make_member(), [])
    assert [m["id"] for m in plain["textModulesData"]] == ["offer"]
    membership = passes.Membership(
        title="Клуб", until="05.01.2027", perks=("Бесплатная доставка",)
    )
    program = make_program()
    member = make_member(stamps=4, stamps_target=6, membership=membership)
    loyalty_object = google.build_loyalty_object(program, member, [])
    assert google_schema.errors("LoyaltyObject", loyalty_object) == []
    modules = {m["id"]: m for m in loyalty_object["textModulesData"]}
    assert modules["stamps"]["header"] == "Штампы"
    assert modules["stamps"]["body"] == "●●●●○○ 4 из 6"
    pass_json = passes.build_pass_json(program, member, [])
    assert pass_json["storeCard"]["primaryFields"][0]["value"] == "●●●●○○ 4 из 6"
    assert modules["membership"]["header"] == "Клубная программа"
    assert modules["membership"]["body"] == "Клуб до 05.01.2027\n• Бесплатная доставка"
    back = {f["key"]: f for f in pass_json["storeCard"]["backFields"]}
    assert back["membership"]["value"] == modules["membership"]["body"]
    english = google.build_loyalty_object(program, replace(member, language="en"), [])
    texts = {m["id"]: m["body"] for m in english["textModulesData"]}
    assert texts["stamps"] == "●●●●○○ 4 of 6"
    assert texts["membership"].startswith("Клуб until 05.01.2027")
