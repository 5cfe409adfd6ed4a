"""`passes` keeps its exceptions in one module, all under PassError, and ships
type information (py.typed) for the app and other users."""

from __future__ import annotations

from pathlib import Path

import passes
from passes import errors, google, google_callback, images, signing


def test_every_library_error_is_a_pass_error_and_exported() -> None:
    for cls in (
        errors.PassSigningError,
        errors.ImageRejected,
        errors.GoogleConfigurationError,
        errors.CallbackError,
    ):
        assert issubclass(cls, passes.PassError)
        assert getattr(passes, cls.__name__) is cls
    # The modules raise the same classes (no second copies to catch).
    assert signing.PassSigningError is errors.PassSigningError
    assert images.ImageRejected is errors.ImageRejected
    assert google.GoogleConfigurationError is errors.GoogleConfigurationError
    assert google_callback.CallbackError is errors.CallbackError
    rejected = passes.ImageRejected("too_large", "The image is too large")
    assert (rejected.code, rejected.message) == ("too_large", "The image is too large")


def test_the_library_is_marked_typed() -> None:
    assert (Path(passes.__file__).parent / "py.typed").is_file()
