"""Operator endpoints: liveness and readiness for load balancers and orchestrators."""

from app.ops.views import bp

__all__ = ["bp"]
