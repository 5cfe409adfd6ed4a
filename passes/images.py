"""Pass images (icon, logo, strip at @1x/@2x/@3x) from a program's design.

Each image is the brand's upload (an `Artwork`, normalised by `normalise_upload`)
or else drawn from the design's colours. Rendering is deterministic and cached
per design, so a pass costs no image work and the same design always yields the
same bytes (and manifest hashes).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from passes.errors import ImageRejected as ImageRejected  # also importable here
from passes.model import Artwork, Design

# Sizes in points (Apple's Wallet guide, store card): multiplied by 1, 2 and 3.
SIZES = {"icon": (29, 29), "logo": (50, 50), "strip": (375, 123)}
SCALES = (1, 2, 3)
KINDS = tuple(SIZES)
# The box an uploaded logo is fitted into (points): Apple allows up to 160 x 50.
LOGO_BOX = (160, 50)
# Upload limits: bytes, pixels per side, and the formats accepted.
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_SIDE = 4096
FORMATS = ("PNG", "JPEG")
# The largest stored icon: Google Wallet's logo (660 x 660) is made from it.
ICON_MASTER = 660


@dataclass(frozen=True)
class Normalised:
    """An accepted upload: the PNG to store and its size in pixels."""

    png: bytes
    width: int
    height: int


def _colour(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, ...]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


# The monogram's typeface: DejaVu Sans Bold, vendored with its licence
# (passes/fonts/LICENSE: Bitstream Vera licence, DejaVu changes public domain), so
# the drawing never depends on the system's fonts. It covers Latin, Cyrillic and
# Greek (a brand in its own script: «Северная Мода» -> «С», not a Latin letter).
MONOGRAM_FONT = Path(__file__).parent / "fonts" / "DejaVuSans-Bold.ttf"
# The letter's em size as a share of the badge.
MONOGRAM_SCALE = 0.56


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(MONOGRAM_FONT), size)


def monogram_letter(brand_name: str) -> str:
    """The brand name's first letter (or digit), upper case, in its own script;
    "•" when it has none."""
    letters = [ch for ch in brand_name if ch.isalnum()]
    return letters[0].upper() if letters else "•"


def _mark(size: int, design: Design, background: bool) -> Image.Image:
    """A round accent badge with the brand's initial (`monogram_letter`, in the
    vendored DejaVu Sans Bold): the icon and the logo."""
    mode = "RGB" if background else "RGBA"
    fill = _colour(design.background) if background else (0, 0, 0, 0)
    image = Image.new(mode, (size, size), fill)
    draw = ImageDraw.Draw(image)
    inset = max(1, size // 10)
    draw.ellipse(
        (inset, inset, size - inset, size - inset), fill=_colour(design.accent)
    )
    draw.text(
        (size / 2, size / 2),
        monogram_letter(design.brand_name),
        font=_font(max(1, round(size * MONOGRAM_SCALE))),
        fill=_colour(design.background),
        anchor="mm",
    )
    return image


def _strip(width: int, height: int, design: Design) -> Image.Image:
    """The brand's colours: a gradient from the background (left) towards the
    foreground (right, at most 35 % of the way, so that text over it stays
    readable), fine diagonal lines of the accent colour at low opacity, and an
    accent rule along the bottom edge. The gradient runs across so that rows
    repeat: the PNG stays small (~9 KB at @3x; a diagonal one was ~40 KB, in
    every .pkpass)."""
    background = _colour(design.background)
    toward = _mix(background, _colour(design.foreground), 0.35)
    accent = _colour(design.accent)
    # 0 on the left, 255 on the right (the vertical ramp turned a quarter).
    ramp = Image.linear_gradient("L").rotate(90)
    ramp = ramp.resize((width, height), Image.Resampling.BILINEAR)
    image = Image.composite(
        Image.new("RGB", (width, height), toward),
        Image.new("RGB", (width, height), background),
        ramp,
    ).convert("RGBA")
    pattern = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(pattern)
    step = max(4, height // 5)
    line = max(1, height // 120)
    for x in range(-height, width + height, step):
        draw.line([(x, height), (x + height, 0)], fill=(*accent, 28), width=line)
    rule = max(2, height // 24)
    draw.rectangle((0, height - rule, width, height), fill=(*accent, 200))
    return Image.alpha_composite(image, pattern).convert("RGB")


def _png(image: Image.Image, optimize: bool = True) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=optimize)
    return buffer.getvalue()


def _file_name(name: str, scale: int) -> str:
    return f"{name}.png" if scale == 1 else f"{name}@{scale}x.png"


def _fit(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """(width, height) scaled to fit in `box`, aspect kept (at least 1 px)."""
    ratio = min(box[0] / width, box[1] / height)
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def _open(artwork: Artwork) -> Image.Image:
    image = Image.open(io.BytesIO(artwork.png))
    image.load()
    return image


def _uploaded(name: str, artwork: Artwork, scale: int) -> Image.Image:
    """An uploaded image at one scale (uploads are stored at @3x or larger)."""
    image = _open(artwork)
    if name == "logo":
        box = (LOGO_BOX[0] * scale, LOGO_BOX[1] * scale)
        size = _fit(image.width, image.height, box)
    else:
        width, height = SIZES[name]
        size = (width * scale, height * scale)
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


def _image(name: str, scale: int, design: Design) -> Image.Image:
    artwork: Artwork | None = getattr(design, name)
    if artwork is not None:
        return _uploaded(name, artwork, scale)
    width, height = SIZES[name]
    if name == "strip":
        return _strip(width * scale, height * scale, design)
    return _mark(width * scale, design, background=(name == "icon"))


@lru_cache(maxsize=64)
def render_images(design: Design) -> MappingProxyType[str, bytes]:
    """file name -> PNG bytes, for every image of a design (cached)."""
    files: dict[str, bytes] = {}
    for name in SIZES:
        for scale in SCALES:
            files[_file_name(name, scale)] = _png(_image(name, scale, design))
    return MappingProxyType(files)


@lru_cache(maxsize=64)
def image_sha1(design: Design) -> MappingProxyType[str, str]:
    """file name -> SHA-1 (hex) of each image, for manifest.json (cached: an
    uploaded photo strip is hundreds of KB, hashed once, not per pass)."""
    return MappingProxyType(
        {
            name: hashlib.sha1(data, usedforsecurity=False).hexdigest()
            for name, data in render_images(design).items()
        }
    )


@lru_cache(maxsize=64)
def fingerprint_parts(design: Design) -> MappingProxyType[str, bytes]:
    """file name -> what `content_fingerprint` hashes for each image: its
    SHA-256 (cached per design), not its bytes: the drawn strip (a gradient and
    pattern, ~50 KB at @3x) and an uploaded photo would otherwise be hashed
    again for every pass."""
    return MappingProxyType(
        {
            name: b"sha256:" + hashlib.sha256(data).digest()
            for name, data in render_images(design).items()
        }
    )


@lru_cache(maxsize=8)
def preview_images(design: Design) -> MappingProxyType[str, bytes]:
    """icon, logo and strip at @2x, for a preview of a design being edited (a
    cache of its own, so that drafts never push real designs out of
    `render_images`'s)."""
    return MappingProxyType(
        {name: _png(_image(name, 2, design), optimize=False) for name in SIZES}
    )


@lru_cache(maxsize=64)
def render_logo(design: Design, size: int = 660) -> bytes:
    """A square PNG logo for Google Wallet (it recommends 660 x 660; shown round):
    the uploaded icon, else the drawn mark."""
    if design.icon is not None:
        image = _open(design.icon)
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.LANCZOS)
        return _png(image)
    return _png(_mark(size, design, background=True))


# -- uploads ---------------------------------------------------------------------


def _reject_small(kind: str) -> ImageRejected:
    width, height = SIZES[kind]
    if kind == "logo":
        w, h = LOGO_BOX
        return ImageRejected(
            "image_too_small",
            f"The logo must be at least {h * 2} px high or {w * 2} px wide "
            f"(best: up to {w * 3}×{h * 3} px, transparent background).",
        )
    return ImageRejected(
        "image_too_small",
        f"The {kind} must be at least {width * 2}×{height * 2} px "
        f"(best: {width * 3}×{height * 3} px).",
    )


def _decode(data: bytes) -> Image.Image:
    """The upload as a loaded image; ImageRejected for anything else."""
    if not data:
        raise ImageRejected("invalid_image", "The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRejected(
            "image_too_large",
            f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.",
        )
    try:
        with warnings.catch_warnings():
            # Huge images are refused below; never let Pillow decode a bomb.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind, size = probe.format, probe.size
                if kind not in FORMATS:
                    raise ImageRejected(
                        "invalid_image_type", "Upload a PNG or JPEG image."
                    )
                if max(size) > MAX_SIDE:
                    raise ImageRejected(
                        "image_too_large",
                        f"The image is larger than {MAX_SIDE} px on a side.",
                    )
                probe.verify()
            image: Image.Image = Image.open(io.BytesIO(data))
            image.load()
            image = ImageOps.exif_transpose(image)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(
            "image_too_large", f"The image is larger than {MAX_SIDE} px on a side."
        ) from None
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ):
        raise ImageRejected(
            "invalid_image", "The file is not a readable PNG or JPEG image."
        ) from None
    transparent = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    return image.convert("RGBA" if transparent else "RGB")


def normalise_upload(kind: str, data: bytes) -> Normalised:
    """Check an uploaded PNG/JPEG and make the PNG to keep for `kind`.

    icon: centre square, at most 660 px (Google's logo is made from it);
    logo: fitted into 160 x 50 points at @3x (480 x 150), aspect kept;
    strip: scaled and centre-cropped to 375 x 123 points at @3x (1125 x 369),
    as Wallet itself would. Each must be big enough for @2x.
    """
    if kind not in SIZES:
        raise ValueError(f"unknown image kind {kind!r}")
    image = _decode(data)
    width, height = image.size
    if kind == "icon":
        side = min(width, height)
        if side < SIZES["icon"][0] * 2:
            raise _reject_small(kind)
        image = ImageOps.fit(image, (side, side), Image.Resampling.LANCZOS)
        if side > ICON_MASTER:
            image = image.resize((ICON_MASTER, ICON_MASTER), Image.Resampling.LANCZOS)
    elif kind == "logo":
        box_w, box_h = LOGO_BOX
        if width < box_w * 2 and height < box_h * 2:
            raise _reject_small(kind)
        at_1x = _fit(width, height, LOGO_BOX)
        if min(at_1x) < 10:
            raise ImageRejected(
                "invalid_image_shape",
                "The logo is too thin: keep it between 1:5 and 16:1 (width:height).",
            )
        size = _fit(width, height, (box_w * 3, box_h * 3))
        if size[0] < width:
            image = image.resize(size, Image.Resampling.LANCZOS)
    else:
        strip_w, strip_h = SIZES["strip"]
        if width < strip_w * 2 or height < strip_h * 2:
            raise _reject_small(kind)
        image = ImageOps.fit(
            image, (strip_w * 3, strip_h * 3), Image.Resampling.LANCZOS
        )
    return Normalised(png=_png(image), width=image.width, height=image.height)
