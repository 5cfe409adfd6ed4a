"""Nearest stores for a pass's `locations` (Apple shows at most 10)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from passes.model import Store

MAX_LOCATIONS = 10
EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = (
        math.sin(dphi / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def nearest_stores(
    stores: Iterable[Store],
    latitude: float,
    longitude: float,
    limit: int = MAX_LOCATIONS,
) -> list[Store]:
    """The `limit` stores closest to a point, nearest first (ties by id)."""
    return sorted(
        stores,
        key=lambda s: (distance_km(latitude, longitude, s.latitude, s.longitude), s.id),
    )[: min(limit, MAX_LOCATIONS)]
