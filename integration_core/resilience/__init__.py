"""Keeping away from a provider that is failing hard: the circuit breaker per connection."""

from __future__ import annotations

from integration_core.resilience.breaker import (
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
)

__all__ = ["BreakerConfig", "BreakerState", "CircuitBreaker", "CircuitOpen"]
