"""Flask extensions, created unbound and initialised in the factory."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

import app.ratelimit_memory  # noqa: F401 - memory:// without a per-hit sweep
from app.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
# Per client address; limits are set per blueprint/view from the configuration.
limiter = Limiter(key_func=get_remote_address)
