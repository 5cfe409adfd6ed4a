"""Public pages for customers: sign-up and the card page."""

from app.public import feedback as _feedback  # noqa: F401  (its routes)
from app.public.views import bp

__all__ = ["bp"]
