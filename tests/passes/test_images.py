"""Pass images: uploads are checked and normalised to Apple's sizes; a design's
uploaded images replace the drawn ones at @1x/@2x/@3x; designs hash by digest."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zlib

import pytest
from PIL import Image

import passes
from passes.images import normalise_upload, render_images


def encode(image: Image.Image, kind: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def artwork(kind: str, image: Image.Image) -> passes.Artwork:
    png = normalise_upload(kind, encode(image)).png
    return passes.Artwork(hashlib.sha256(png).hexdigest(), png)


DESIGN = passes.Design("Brand", "#1b2a41", "#ffffff", "#c9d6ea", "#e0b15c")


def test_logo_is_fitted_into_the_3x_box_keeping_its_aspect() -> None:
    wide = normalise_upload("logo", encode(Image.new("RGBA", (1600, 200))))
    assert (wide.width, wide.height) == (480, 60)
    tall = normalise_upload("logo", encode(Image.new("RGBA", (300, 300))))
    assert (tall.width, tall.height) == (150, 150)
    small = normalise_upload("logo", encode(Image.new("RGBA", (320, 80))))
    assert (small.width, small.height) == (320, 80)  # never scaled up
    # Transparency survives.
    assert Image.open(io.BytesIO(small.png)).mode == "RGBA"


def test_strip_and_icon_are_cropped_to_their_shapes() -> None:
    strip = normalise_upload("strip", encode(Image.new("RGB", (3000, 3000)), "JPEG"))
    assert (strip.width, strip.height) == (1125, 369)
    assert Image.open(io.BytesIO(strip.png)).mode == "RGB"
    icon = normalise_upload("icon", encode(Image.new("RGB", (2000, 1000))))
    assert (icon.width, icon.height) == (660, 660)


def test_jpeg_orientation_is_applied() -> None:
    # 400 x 200 stored, EXIF "rotate 90": the picture is 200 x 400.
    exif = Image.Exif()
    exif[0x0112] = 6
    image = Image.new("RGB", (400, 200))
    upright = normalise_upload("icon", encode(image, "JPEG", exif=exif.tobytes()))
    assert (upright.width, upright.height) == (200, 200)
    logo = normalise_upload("logo", encode(image, "JPEG", exif=exif.tobytes()))
    assert (logo.width, logo.height) == (75, 150)


def test_palette_images_with_transparency_keep_it() -> None:
    image = Image.new("P", (200, 200))
    image.info["transparency"] = 0
    result = normalise_upload("icon", encode(image, transparency=0))
    assert Image.open(io.BytesIO(result.png)).mode == "RGBA"


def _bomb(side: int) -> bytes:
    """A tiny PNG that claims side x side pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("kind", "data", "code"),
    [
        ("logo", b"", "invalid_image"),
        ("logo", b"GIF89a not really", "invalid_image"),
        ("logo", encode(Image.new("RGB", (400, 400)), "GIF"), "invalid_image_type"),
        ("logo", encode(Image.new("RGB", (400, 400)), "BMP"), "invalid_image_type"),
        ("logo", encode(Image.new("RGB", (400, 400)), "WEBP"), "invalid_image_type"),
        ("logo", encode(Image.new("RGB", (800, 300)))[:-40], "invalid_image"),
        # Past Pillow's bomb warning (89 Mpx) and its error (179 Mpx).
        ("strip", _bomb(10_000), "image_too_large"),
        ("strip", _bomb(30_000), "image_too_large"),
        ("logo", b"\0" * (passes.images.MAX_UPLOAD_BYTES + 1), "image_too_large"),
        ("logo", encode(Image.new("RGB", (300, 90))), "image_too_small"),
        ("logo", encode(Image.new("RGB", (90, 600))), "invalid_image_shape"),
        ("icon", encode(Image.new("RGB", (57, 57))), "image_too_small"),
        ("strip", encode(Image.new("RGB", (750, 245))), "image_too_small"),
    ],
)
def test_unusable_uploads_are_rejected(kind: str, data: bytes, code: str) -> None:
    with pytest.raises(passes.ImageRejected) as rejected:
        normalise_upload(kind, data)
    assert rejected.value.code == code
    assert rejected.value.message


def test_uploaded_images_replace_the_drawn_ones_at_every_scale() -> None:
    logo = artwork("logo", Image.new("RGBA", (600, 200), (255, 0, 0, 255)))
    strip = artwork("strip", Image.new("RGB", (1200, 400), (0, 0, 255)))
    design = dataclasses.replace(DESIGN, logo=logo, strip=strip)
    drawn, mixed = render_images(DESIGN), render_images(design)
    assert set(drawn) == set(mixed)
    sizes = {name: Image.open(io.BytesIO(data)).size for name, data in mixed.items()}
    assert sizes["logo.png"] == (150, 50)
    assert sizes["logo@3x.png"] == (450, 150)
    assert sizes["strip@2x.png"] == (750, 246)
    assert sizes["icon@3x.png"] == (87, 87)
    assert mixed["icon.png"] == drawn["icon.png"]
    assert mixed["logo.png"] != drawn["logo.png"]
    pixel = Image.open(io.BytesIO(mixed["strip.png"])).convert("RGB").getpixel((9, 9))
    assert pixel == (0, 0, 255)
    # Same inputs, same bytes (manifest hashes stay stable between processes).
    render_images.cache_clear()
    assert render_images(design) == mixed


def test_designs_compare_and_hash_by_image_digest() -> None:
    image = Image.new("RGBA", (600, 200), (255, 0, 0, 255))
    one = dataclasses.replace(DESIGN, logo=artwork("logo", image))
    two = dataclasses.replace(DESIGN, logo=artwork("logo", image))
    assert one.logo is not two.logo
    assert one == two
    assert hash(one) == hash(two)
    assert one != DESIGN


def test_the_google_logo_is_the_uploaded_icon() -> None:
    icon = artwork("icon", Image.new("RGB", (100, 100), (0, 200, 0)))
    logo = passes.render_logo(dataclasses.replace(DESIGN, icon=icon))
    image = Image.open(io.BytesIO(logo))
    assert image.size == (660, 660)
    assert image.convert("RGB").getpixel((5, 5)) == (0, 200, 0)


def test_a_pass_with_uploads_lists_true_sha1s_and_verifies(
    program: passes.Program,
    member: passes.Member,
    stores: list[passes.Store],
    signer: passes.Signer,
    pki_files: dict,
    tmp_path,
) -> None:
    from tests.support.openssl import verify_pkpass

    strip = artwork("strip", Image.new("RGB", (1200, 400), (0, 0, 255)))
    branded = dataclasses.replace(
        program, design=dataclasses.replace(program.design, strip=strip)
    )
    data = passes.build_pkpass(branded, member, stores, signer)
    archive = verify_pkpass(data, pki_files["ca.pem"], tmp_path)
    manifest = json.loads(archive.read("manifest.json"))
    for name, digest in manifest.items():
        assert hashlib.sha1(archive.read(name)).hexdigest() == digest, name


def test_fingerprints_count_images_by_their_digest_and_uploads_count(
    program: passes.Program, member: passes.Member, stores: list[passes.Store]
) -> None:
    # Every file by name; pass.json and the strings by their bytes, the images
    # (drawn or uploaded) by their SHA-256.
    digest = hashlib.sha256()
    for name, data in sorted(passes.build_files(program, member, stores).items()):
        part = (
            b"sha256:" + hashlib.sha256(data).digest()
            if name.endswith(".png")
            else data
        )
        digest.update(name.encode() + b"\0" + part + b"\0")
    assert passes.content_fingerprint(program, member, stores) == digest.hexdigest()
    red = artwork("logo", Image.new("RGBA", (600, 200), (255, 0, 0, 255)))
    blue = artwork("logo", Image.new("RGBA", (600, 200), (0, 0, 255, 255)))
    prints = {
        passes.content_fingerprint(
            dataclasses.replace(
                program, design=dataclasses.replace(program.design, logo=logo)
            ),
            member,
            stores,
        )
        for logo in (None, red, blue)
    }
    assert len(prints) == 3
