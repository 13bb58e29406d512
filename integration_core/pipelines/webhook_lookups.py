"""A budget for WebhookReceiver's lookups of registration ids that do not exist.

The receiver's per-registration limit does not stop distinct ids: each passes once, and
each costs a cross-partition query. Lookups that miss spend a budget per source address
and one for the whole fleet (the shared limiter); while either is spent, ids this process
has not found before are refused without a query. Ids found before skip the budget, so a
flood of unknown ids does not stop deliveries to registrations that exist.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping

from integration_core.ratelimit import Limit, RateLimiter

__all__ = ["MISSES_PER_SOURCE", "MISSES_PER_FLEET", "LookupBudget", "source_address"]

# Lookups that miss, per minute.
MISSES_PER_SOURCE = 60
MISSES_PER_FLEET = 600
_KNOWN_IDS = 10_000


def source_address(headers: Mapping[str, str]) -> str:
    """The caller's address: the last X-Forwarded-For entry, the one the platform's front
    end appended (earlier entries come from the caller and can be forged), without a port.
    """
    forwarded = next((v for k, v in headers.items() if k.lower() == "x-forwarded-for"), "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    if last.startswith("["):  # [IPv6]:port
        last = last[1:].split("]", 1)[0]
    elif last.count(":") == 1:  # IPv4:port
        last = last.split(":", 1)[0]
    return last or "unknown"


class LookupBudget:
    """Says whether a lookup may run, and is told what it found."""

    def __init__(self, *, known_ids: int = _KNOWN_IDS) -> None:
        self._size = known_ids
        self._known: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(
        self, limiter: RateLimiter, registration_id: str, headers: Mapping[str, str]
    ) -> int | None:
        """Seconds to wait when the lookup must not run now, else None."""
        with self._lock:
            if registration_id in self._known:
                return None
        spent = [
            status.blocked_for or status.reset_after
            for status in map(limiter.status, _limits(headers))
            if status.remaining == 0
        ]
        return max(1, math.ceil(max(spent))) if spent else None

    def found(self, registration_id: str) -> None:
        with self._lock:
            self._known[registration_id] = None
            self._known.move_to_end(registration_id)
            while len(self._known) > self._size:
                self._known.popitem(last=False)

    def missed(
        self, limiter: RateLimiter, registration_id: str, headers: Mapping[str, str]
    ) -> None:
        with self._lock:
            self._known.pop(registration_id, None)
        limiter.acquire(_limits(headers))


def _limits(headers: Mapping[str, str]) -> list[Limit]:
    return [
        Limit(f"webhook-miss:{source_address(headers)}", MISSES_PER_SOURCE, 60.0, integration=""),
        Limit("webhook-miss", MISSES_PER_FLEET, 60.0, integration=""),
    ]
