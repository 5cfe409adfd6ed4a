"""The pass library's exceptions, in one place.

Every error `passes` raises on purpose derives from `PassError`, so a caller can
catch the library's refusals without catching its own bugs. The app maps them at
its edge (`app/errors.py`, `app/services/settings.py`).
"""

from __future__ import annotations


class PassError(Exception):
    """Base class of the library's deliberate refusals."""


class PassSigningError(PassError):
    """The signing material is missing, unreadable, mismatched or expired."""


class ImageRejected(PassError, ValueError):
    """An upload that is not a usable pass image; `code` names the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class GoogleConfigurationError(PassError, ValueError):
    """The program has no Google Wallet settings (`Program.google` is None)."""


class CallbackError(PassError, ValueError):
    """A Google Wallet callback is malformed, badly signed or expired."""
