"""Point of sale: the JSON API for tills (`api_bp`), the cashier page (`page_bp`)."""

from app.pos.api import bp as api_bp
from app.pos.page import bp as page_bp

__all__ = ["api_bp", "page_bp"]
