"""memory:// rate-limit counts without a sweep of every key on every request.

limits' MemoryStorage (5.x) starts a timer thread 10 ms after any hit that is not
already waiting, and that thread walks every key it holds. The wallet service's
limit is keyed per device and pass, so after a campaign a process holds a key
per phone it served: each request then paid a thread start and, every ~10 ms, a
walk of all those keys (CPU linear in the herd's size, per request). Counts do
not need the sweep: `get` drops an expired key when it is read. Here the sweep
runs at most every SWEEP_SECONDS, only to free memory.

Registered for the `memory` scheme (importing this module is enough), so
RATELIMIT_STORAGE_URI=memory:// gets it; redis:// and the rest are unchanged.
"""

from __future__ import annotations

import threading
import time

from limits.storage import MemoryStorage

SWEEP_SECONDS = 5.0


class SweptMemoryStorage(MemoryStorage):
    """MemoryStorage whose expiry sweep runs at most every SWEEP_SECONDS."""

    STORAGE_SCHEME = ["memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **_: str):
        self._next_sweep = 0.0
        self._sweep_lock = threading.Lock()
        self.sweeps = 0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **_)

    def _sweep(self) -> None:
        self.sweeps += 1
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]

    # Replaces MemoryStorage.__schedule_expiry (name-mangled), called on every hit.
    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802
        now = time.monotonic()
        if now < self._next_sweep:
            return
        with self._sweep_lock:
            if now < self._next_sweep:
                return
            self._next_sweep = now + SWEEP_SECONDS
            self.timer = threading.Timer(SWEEP_SECONDS, self._sweep)
            self.timer.daemon = True
            self.timer.start()
