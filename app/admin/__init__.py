"""The marketer dashboard /admin (Russian and English)."""

from app.admin.views import bp

__all__ = ["bp"]
