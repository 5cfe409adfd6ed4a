"""The marketer dashboard /admin (Russian and English)."""

from app.admin import catalog as _catalog  # noqa: F401  (registers its pages)
from app.admin import (
    feedback_page,  # noqa: F401  (adds /admin/feedback to bp)
    imports_page,  # noqa: F401  (adds /admin/imports to bp)
    memberships_page,  # noqa: F401  (adds /admin/memberships to bp)
    offers_page,  # noqa: F401  (adds /admin/offers to bp)
    settings_page,  # noqa: F401  (adds /admin/settings to bp)
    stamps_page,  # noqa: F401  (adds /admin/stamps to bp)
    webhooks_page,  # noqa: F401  (adds /admin/webhooks to bp)
)
from app.admin.views import bp

__all__ = ["bp"]
