"""pass.json rules for a store card, and its localisation."""

from __future__ import annotations

import re

import passes
from tests.passes.conftest import PASS_TYPE, SECRET, TEAM, make_member, make_stores


def all_fields(pass_json: dict) -> list[dict]:
    card = pass_json["storeCard"]
    return [field for group in card.values() for field in group]


def test_top_level_keys(program, member, stores) -> None:
    pass_json = passes.build_pass_json(program, member, stores)
    assert pass_json["formatVersion"] == 1
    assert pass_json["passTypeIdentifier"] == PASS_TYPE
    assert pass_json["teamIdentifier"] == TEAM
    assert pass_json["serialNumber"] == member.serial_number
    assert pass_json["organizationName"] == "Северная Мода"
    assert pass_json["description"]
    assert pass_json["logoText"] == "Северная Мода"
    assert pass_json["webServiceURL"] == "https://wallet.test/wallet"
    assert len(pass_json["authenticationToken"]) >= 16
    for key in ("foregroundColor", "backgroundColor", "labelColor"):
        assert re.fullmatch(r"rgb\(\d{1,3}, \d{1,3}, \d{1,3}\)", pass_json[key])
    assert pass_json["backgroundColor"] == "rgb(27, 42, 65)"
    assert "voided" not in pass_json
    assert "relevantDate" not in pass_json  # not supported for store cards


def test_barcode_is_a_qr_with_the_mac_payload_and_card_number(
    program, member, stores
) -> None:
    (barcode,) = passes.build_pass_json(program, member, stores)["barcodes"]
    assert barcode["format"] == "PKBarcodeFormatQR"
    assert barcode["messageEncoding"] == "iso-8859-1"
    assert barcode["message"] == member.barcode_message
    assert passes.parse_barcode_payload(barcode["message"], SECRET) == "123456789015"
    assert barcode["altText"] == "1234 5678 9015"
    barcode["message"].encode("iso-8859-1")


def test_balance_tier_and_offer_fields_carry_change_messages(
    program, member, stores
) -> None:
    card = passes.build_pass_json(program, member, stores)["storeCard"]
    (points,) = card["headerFields"]
    assert points["key"] == "points"
    assert points["value"] == 1250
    assert "%@" in points["changeMessage"]
    assert card["secondaryFields"][0]["value"] == "Анна Смирнова"
    assert card["secondaryFields"][1]["value"] == "Золото"
    assert "%@" in card["secondaryFields"][1]["changeMessage"]
    (offer,) = card["auxiliaryFields"]
    assert offer["value"]  # a placeholder until there is an offer ...
    assert "changeMessage" not in offer  # ... which appears (or returns) silently
    with_offer = make_member(offer="−20% на пальто до 1 декабря")
    card = passes.build_pass_json(program, with_offer, stores)["storeCard"]
    assert card["auxiliaryFields"][0]["value"] == "−20% на пальто до 1 декабря"
    assert "%@" in card["auxiliaryFields"][0]["changeMessage"]
    # Store cards show at most four secondary and auxiliary fields together.
    assert len(card["secondaryFields"]) + len(card["auxiliaryFields"]) <= 4


def test_field_keys_are_unique_across_all_groups(program, member, stores) -> None:
    keys = [
        f["key"] for f in all_fields(passes.build_pass_json(program, member, stores))
    ]
    assert len(keys) == len(set(keys))


def test_back_fields_have_terms_stores_contacts_and_links(
    program, member, stores
) -> None:
    back = {
        f["key"]: f
        for f in passes.build_pass_json(program, member, stores)["storeCard"][
            "backFields"
        ]
    }
    assert {
        "terms",
        "stores",
        "contacts",
        "card_page",
        "privacy",
        "card_number",
    } <= set(back)
    assert "Баллы действуют год" in back["terms"]["value"]
    assert "Магазин 1" in back["stores"]["value"]
    assert back["card_page"]["value"] == member.card_url
    assert member.privacy_url in back["privacy"]["attributedValue"]
    for field in back.values():
        assert "textAlignment" not in field  # invalid on back fields


def test_locations_are_the_ten_nearest_stores_with_relevant_text(
    program, member
) -> None:
    nearest = passes.nearest_stores(make_stores(14), 55.80, 37.61)
    assert [s.id for s in nearest] == [5, 4, 6, 3, 7, 2, 8, 1, 9, 10]
    locations = passes.build_pass_json(program, member, nearest)["locations"]
    assert len(locations) == 10
    assert locations[0] == {
        "latitude": 55.80,
        "longitude": 37.61,
        "relevantText": "«Северная Мода» рядом: магазин 5",
    }


def test_voided_pass(program, stores) -> None:
    pass_json = passes.build_pass_json(program, make_member(voided=True), stores)
    assert pass_json["voided"] is True
    assert pass_json["locations"] == []


def test_english_member_gets_english_texts_and_russian_translations(
    program, stores
) -> None:
    member = make_member(language="en")
    card = passes.build_pass_json(program, member, stores)["storeCard"]
    assert card["headerFields"][0]["label"] == "Points"
    assert card["secondaryFields"][1]["value"] == "Gold"
    strings = passes.build_strings(program, member)
    assert strings["ru"]["Points"] == "Баллы"
    assert strings["ru"]["Gold"] == "Золото"
    assert strings["en"]["Points"] == "Points"
    assert strings["ru"]["Points balance: %@"] == "Баланс баллов: %@"


def test_pass_strings_escape_quotes_and_newlines() -> None:
    encoded = passes.encode_strings({'Say "hi"': "строка 1\nстрока 2"})
    assert encoded.decode("utf-8") == '"Say \\"hi\\"" = "строка 1\\nстрока 2";\n'


def test_rgb_rejects_bad_colours() -> None:
    import pytest

    assert passes.rgb("#FFFFFF") == "rgb(255, 255, 255)"
    with pytest.raises(ValueError, match="#rrggbb"):
        passes.rgb("#fff")
