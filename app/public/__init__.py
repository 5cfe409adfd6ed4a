"""Public pages for customers: sign-up and the card page."""

from app.public.views import bp

__all__ = ["bp"]
