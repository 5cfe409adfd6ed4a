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
    """file name -> what `content_fingerprint` hashes for each image: a drawn
    image's own bytes (small; as before uploads existed, so existing passes'
    fingerprints stay the same), an uploaded one's SHA-256 (cached, instead of
    hashing hundreds of KB per pass)."""
    parts: dict[str, bytes] = {}
    for name, data in render_images(design).items():
        uploaded = getattr(design, name.split(".")[0].split("@")[0]) is not None
        parts[name] = b"sha256:" + hashlib.sha256(data).digest() if uploaded else data
    return MappingProxyType(parts)


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
