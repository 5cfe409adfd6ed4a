"""Apple's pass web service under /wallet/v1 (also used by Android .pkpass apps)."""

from app.wallet.views import bp

__all__ = ["bp"]
