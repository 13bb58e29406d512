"""How long work waits after a failure that names no delay: an outage, not a rate limit.

A 503 without Retry-After, a timeout or a refused connection says nothing of when the
provider is back. Re-sending at once (the host's immediate redelivery) hammers it and,
after a few deliveries, poisons the message; instead the work is postponed by exponential
backoff with full jitter on the message's attempt (so that the copies of many messages
spread out), capped at `OUTAGE_MAX_DELAY_SECONDS`, and never less than what an open
circuit breaker asks. Such waits do not count toward `max_reschedules`: an outage of any
length delays pushes, it does not dead-letter them.
"""

from __future__ import annotations

from tenacity import RetryCallState, Retrying, wait_random_exponential

__all__ = ["OUTAGE_MAX_DELAY_SECONDS", "outage_delay"]

OUTAGE_MAX_DELAY_SECONDS = 900.0
_WAIT = wait_random_exponential(multiplier=1.0, min=1.0, max=OUTAGE_MAX_DELAY_SECONDS)


def outage_delay(attempt: int, *, at_least: float | None = None) -> float:
    """Seconds to wait before the `attempt + 1`th try (`attempt` postponements so far)."""
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = min(attempt, 64) + 1  # 2**64 s is past the cap already
    return max(_WAIT(state), at_least or 0.0)
