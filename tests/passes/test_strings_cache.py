"""The pass.strings files are built once per (program texts, tier, language)."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import passes
from passes.passjson import build_strings, encode_strings, strings_files
from tests.passes.conftest import make_member


def _uncached(program, member) -> tuple[tuple[str, bytes], ...]:
    return tuple(
        (f"{language}.lproj/pass.strings", encode_strings(table))
        for language, table in build_strings(program, member).items()
    )


def test_members_alike_share_one_build_and_the_bytes_are_the_same(program) -> None:
    one = make_member(language="en")
    two = dataclasses.replace(one, name="Someone Else", card_number="1234567890")
    first = strings_files(program, one)
    assert first == _uncached(program, one)
    # Same program texts, tier and language: the same files, reused.
    assert strings_files(program, two) is first


def test_what_the_strings_depend_on_gives_new_files(program) -> None:
    member = make_member(language="ru")
    before = strings_files(program, member)
    changes = [
        (program, dataclasses.replace(member, language="en")),
        (
            program,
            dataclasses.replace(member, tier={"ru": "Платина", "en": "Platinum"}),
        ),
        (dataclasses.replace(program, terms={"ru": "Новые условия"}), member),
        (dataclasses.replace(program, contacts={"en": "New contacts"}), member),
    ]
    for changed_program, changed_member in changes:
        files = strings_files(changed_program, changed_member)
        assert files is not before
        assert files == _uncached(changed_program, changed_member)
    assert any(strings_files(p, m) != before for p, m in changes), (
        "some change must show in the strings"
    )


def test_the_pkpass_holds_the_cached_strings(program, member, stores, signer) -> None:
    data = passes.build_pkpass(program, member, stores, signer=signer)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name, content in _uncached(program, member):
            assert archive.read(name) == content
