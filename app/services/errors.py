"""Domain errors: what services raise when a request cannot be carried out.

Services know *why* something failed, not how the edge reports it: `app/errors.py`
maps each class to an HTTP status and the JSON envelope (or a page for people).
Each error has a stable machine `code` and a human `message`; `extra` holds any
further fields the envelope should carry (e.g. `{"fields": {...}}`).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: a refusal with a code, a message and optional extra fields."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


class Malformed(DomainError):
    """The request cannot be read at all (not JSON, wrong shape): 400."""


class Unauthorized(DomainError):
    """Missing or wrong credentials: 401."""


class Forbidden(DomainError):
    """Known caller, not allowed to do this: 403."""


class NotFound(DomainError):
    """The thing named does not exist (for this caller): 404."""


class Conflict(DomainError):
    """The request clashes with the current state: 409."""


class Gone(DomainError):
    """The thing existed and was closed for good (erased member, voided card): 410."""


class TooLarge(DomainError):
    """The request carries more than the service accepts: 413."""


class Invalid(DomainError):
    """Readable, but a value is wrong: 422."""


class TooMany(DomainError):
    """A per-subject limit was reached (not the rate limiter's 429): 429."""


class Unavailable(DomainError):
    """A passing condition (a dependency is down): 503."""
