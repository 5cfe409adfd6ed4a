"""Default artwork (issue 17): the monogram is the brand name's first letter in
its own script, drawn with the vendored DejaVu font («Северная Мода» -> «С», not
a Latin letter); the drawn strip carries the brand's colours at Apple's sizes."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw, ImageFont

import passes
from passes.images import MONOGRAM_FONT, MONOGRAM_SCALE, monogram_letter, render_images

NORTH = passes.Design("Северная Мода", "#1b2a41", "#ffffff", "#c9d6ea", "#e0b15c")


@pytest.mark.parametrize(
    ("brand", "letter"),
    [
        ("Северная Мода", "\u0421"),  # CYRILLIC CAPITAL LETTER ES
        ("  «ёлка» ", "Ё"),
        ("Ωmega", "Ω"),
        ("nord", "N"),
        ("7 дней", "7"),
        ("«»", "•"),
    ],
)
def test_the_monogram_letter_is_the_brands_first_in_its_script(
    brand: str, letter: str
) -> None:
    assert monogram_letter(brand) == letter


def _png(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def _drawn_letter(
    image: Image.Image, ink: tuple[int, int, int]
) -> set[tuple[int, int]]:
    """Pixels of the badge's letter: inside the accent circle, nearer the ink
    (the background colour) than the accent."""
    size = image.width
    accent = (0xE0, 0xB1, 0x5C)
    centre, radius = size / 2, size / 2 - size // 10
    pixels = set()
    for y in range(size):
        for x in range(size):
            if (x - centre) ** 2 + (y - centre) ** 2 > (radius * 0.92) ** 2:
                continue
            colour = image.getpixel((x, y))
            near_ink = sum((a - b) ** 2 for a, b in zip(colour, ink, strict=True))
            near_accent = sum((a - b) ** 2 for a, b in zip(colour, accent, strict=True))
            if near_ink < near_accent:
                pixels.add((x, y))
    return pixels


def _reference(letter: str, size: int) -> set[tuple[int, int]]:
    """The letter alone, drawn with the vendored font at the badge's size."""
    canvas = Image.new("L", (size, size), 0)
    font = ImageFont.truetype(str(MONOGRAM_FONT), round(size * MONOGRAM_SCALE))
    ImageDraw.Draw(canvas).text(
        (size / 2, size / 2), letter, font=font, fill=255, anchor="mm"
    )
    return {
        (x, y)
        for y in range(size)
        for x in range(size)
        if canvas.getpixel((x, y)) > 127
    }


def _overlap(a: set[tuple[int, int]], b: set[tuple[int, int]]) -> float:
    return len(a & b) / len(a | b)


def test_the_icon_shows_the_cyrillic_letter_not_a_latin_one() -> None:
    icon = _png(render_images(NORTH)["icon@3x.png"])
    assert icon.size == (87, 87)
    drawn = _drawn_letter(icon, (0x1B, 0x2A, 0x41))
    assert len(drawn) > 200  # a real glyph, not an empty badge
    cyrillic = _overlap(drawn, _reference("\u0421", icon.width))
    assert cyrillic > 0.85
    # Not a Latin «S» (the old default), nor a missing-glyph box.
    assert _overlap(drawn, _reference("S", icon.width)) < cyrillic - 0.2
    assert _overlap(drawn, _reference("\ue000", icon.width)) < cyrillic - 0.2
    logo = _png(render_images(NORTH)["logo@2x.png"])
    assert (
        _overlap(_drawn_letter(logo, (0x1B, 0x2A, 0x41)), _reference("\u0421", 100))
        > 0.85
    )


def test_the_font_is_vendored_with_its_licence() -> None:
    assert MONOGRAM_FONT.is_file()
    assert MONOGRAM_FONT.parent.name == "fonts"
    licence = (MONOGRAM_FONT.parent / "LICENSE").read_text()
    assert "Bitstream" in licence
    assert "DejaVu changes are in public domain" in licence


def test_the_drawn_strip_carries_the_brand_colours_at_apples_sizes() -> None:
    images = render_images(NORTH)
    sizes = {
        name: _png(images[name]).size
        for name in ("strip.png", "strip@2x.png", "strip@3x.png")
    }
    assert sizes == {
        "strip.png": (375, 123),
        "strip@2x.png": (750, 246),
        "strip@3x.png": (1125, 369),
    }
    strip = _png(images["strip@3x.png"])

    def near(pixel: tuple[int, ...], colour: tuple[int, int, int], slack: int) -> bool:
        return all(abs(a - b) <= slack for a, b in zip(pixel, colour, strict=True))

    background, foreground = (0x1B, 0x2A, 0x41), (0xFF, 0xFF, 0xFF)
    toward = tuple(
        round(b + (f - b) * 0.35) for b, f in zip(background, foreground, strict=True)
    )
    # A gradient from the background (left) towards the foreground (right, at
    # most 35 % of the way), a fine accent pattern, an accent rule.
    assert near(strip.getpixel((2, 2)), background, 24)
    assert near(strip.getpixel((1120, 340)), toward, 24)
    assert near(strip.getpixel((560, 366)), (0xE0, 0xB1, 0x5C), 40)
    middle = [strip.getpixel((x, 180)) for x in range(400, 700)]
    assert len(set(middle)) > 10  # the pattern and the gradient, not one flat colour
    # Another brand's colours give another strip.
    green = passes.Design("Северная Мода", "#0b3d2e", "#f5f0e6", "#c9d6ea", "#d94f30")
    assert render_images(green)["strip@3x.png"] != images["strip@3x.png"]


def test_the_drawn_strip_stays_small() -> None:
    """Every .pkpass carries the strip at three scales."""
    images = render_images(NORTH)
    assert (
        sum(len(images[n]) for n in ("strip.png", "strip@2x.png", "strip@3x.png"))
        < 24_000
    )
