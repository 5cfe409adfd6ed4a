"""Pass images (icon, logo, strip at @1x/@2x/@3x) rendered from a program's design.

Rendering is deterministic and cached per design, so a pass costs no image work and
the same design always yields the same bytes (and manifest hashes).
"""

from __future__ import annotations

import io
from functools import lru_cache
from types import MappingProxyType

from PIL import Image, ImageDraw, ImageFont

from passes.model import Design

# Sizes in points (Apple's Wallet guide, store card): multiplied by 1, 2 and 3.
SIZES = {"icon": (29, 29), "logo": (50, 50), "strip": (375, 123)}
SCALES = (1, 2, 3)


def _colour(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float):
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def _initial(design: Design) -> str:
    letters = [ch for ch in design.brand_name if ch.isalnum()]
    return letters[0].upper() if letters else "•"


def _mark(size: int, design: Design, background: bool) -> Image.Image:
    """A round accent badge with the brand's initial: the icon and the logo."""
    mode = "RGB" if background else "RGBA"
    fill = _colour(design.background) if background else (0, 0, 0, 0)
    image = Image.new(mode, (size, size), fill)
    draw = ImageDraw.Draw(image)
    inset = max(1, size // 10)
    draw.ellipse(
        (inset, inset, size - inset, size - inset), fill=_colour(design.accent)
    )
    font = ImageFont.load_default(size=size * 0.55)
    draw.text(
        (size / 2, size / 2),
        _initial(design),
        font=font,
        fill=_colour(design.background),
        anchor="mm",
    )
    return image


def _strip(width: int, height: int, design: Design) -> Image.Image:
    """A diagonal band of the accent colour over the brand background."""
    background, accent = _colour(design.background), _colour(design.accent)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    for x in range(width):
        t = x / max(1, width - 1)
        draw.line([(x, 0), (x, height)], fill=_mix(background, accent, 0.25 * t))
    band = height // 6
    draw.polygon(
        [
            (width * 0.55, height),
            (width * 0.75, 0),
            (width * 0.75 + band, 0),
            (width * 0.55 + band, height),
        ],
        fill=_mix(background, accent, 0.6),
    )
    return image


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _file_name(name: str, scale: int) -> str:
    return f"{name}.png" if scale == 1 else f"{name}@{scale}x.png"


@lru_cache(maxsize=64)
def render_images(design: Design) -> MappingProxyType[str, bytes]:
    """file name -> PNG bytes, for every image of a design (cached)."""
    files: dict[str, bytes] = {}
    for name, (width, height) in SIZES.items():
        for scale in SCALES:
            w, h = width * scale, height * scale
            if name == "strip":
                image = _strip(w, h, design)
            else:
                image = _mark(w, design, background=(name == "icon"))
            files[_file_name(name, scale)] = _png(image)
    return MappingProxyType(files)


@lru_cache(maxsize=64)
def render_logo(design: Design, size: int = 660) -> bytes:
    """A square PNG logo for Google Wallet (it recommends 660 x 660; shown round)."""
    return _png(_mark(size, design, background=True))
