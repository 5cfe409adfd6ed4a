"""Google Wallet's calls to us: signed save/delete callbacks."""

from app.google.views import bp

__all__ = ["bp"]
