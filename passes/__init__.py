"""Pure pass building: program + member + stores -> pass.json, images, .pkpass.

Google Wallet's class, object and Save link are in `passes.google`.

No Flask and no database here (a test checks): the app turns its models into the
plain values of `passes.model` and calls these functions.
"""

from passes.cardnumber import (
    barcode_payload,
    format_card_number,
    is_valid_card_number,
    luhn_check_digit,
    new_card_number,
    normalize_card_number,
    parse_barcode_payload,
)
from passes.devpki import (
    DevPKI,
    is_development_certificate,
    is_development_service_account,
    make_dev_pki,
    write_dev_pki,
)
from passes.errors import (
    CallbackError,
    GoogleConfigurationError,
    ImageRejected,
    PassError,
    PassSigningError,
)
from passes.geo import MAX_LOCATIONS, distance_km, nearest_stores
from passes.images import (
    normalise_upload,
    preview_images,
    render_images,
    render_logo,
)
from passes.model import (
    LANGUAGES,
    Artwork,
    Design,
    GoogleProgram,
    Member,
    Membership,
    Offer,
    Program,
    Store,
    Text,
    pick,
)
from passes.package import (
    MIMETYPE,
    build_files,
    build_manifest,
    build_pkpass,
    build_pkpass_parts,
    content_fingerprint,
    shared_digest,
)
from passes.passjson import build_pass_json, build_strings, encode_strings, rgb
from passes.signing import Signer

__all__ = [
    "LANGUAGES",
    "MAX_LOCATIONS",
    "MIMETYPE",
    "Artwork",
    "CallbackError",
    "Design",
    "DevPKI",
    "GoogleConfigurationError",
    "GoogleProgram",
    "ImageRejected",
    "Member",
    "Membership",
    "Offer",
    "PassError",
    "PassSigningError",
    "Program",
    "Signer",
    "Store",
    "Text",
    "barcode_payload",
    "build_files",
    "build_manifest",
    "build_pass_json",
    "build_pkpass",
    "build_pkpass_parts",
    "build_strings",
    "content_fingerprint",
    "distance_km",
    "encode_strings",
    "format_card_number",
    "is_development_certificate",
    "is_development_service_account",
    "is_valid_card_number",
    "luhn_check_digit",
    "make_dev_pki",
    "nearest_stores",
    "new_card_number",
    "normalise_upload",
    "normalize_card_number",
    "parse_barcode_payload",
    "pick",
    "preview_images",
    "render_images",
    "render_logo",
    "rgb",
    "write_dev_pki",
    "shared_digest",
]
