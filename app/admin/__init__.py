"""The marketer dashboard /admin (Russian and English)."""

from app.admin import catalog as _catalog  # noqa: F401  (registers its pages)
from app.admin.views import bp

__all__ = ["bp"]
