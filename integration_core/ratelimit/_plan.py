"""A validated `acquire` call, computed once per (limits, cost) and cached by the limiter."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from integration_core.ratelimit.models import Limit

__all__ = ["Plan", "RawAcquire", "RawStatus", "build_plan", "state_id", "STATE_TAIL"]


@dataclass(slots=True)
class Plan:
    """Everything a backend needs for one combination of limits and cost.

    `governed_by[i]` indexes `integrations` for limit i. `packed` is the Redis backend's
    pre-encoded command, filled on first use.
    """

    limits: tuple[Limit, ...]
    cost: int
    state_ids: tuple[str, ...]
    integrations: tuple[str, ...]
    governed_by: tuple[tuple[int, ...], ...]
    packed: bytes = b""


class RawAcquire(NamedTuple):
    """A backend's answer; times in microseconds. A tuple: built on every call."""

    allowed: bool
    retry_us: int
    remaining: int
    blocker: int  # 0-based index of the limit with the longest wait, -1 when allowed


class RawStatus(NamedTuple):
    used: int
    effective_limit: int
    multiplier: float
    blocked_us: int
    reset_us: int


# What follows "<key>:" in a state id; tells a key's own windows from a longer key's.
STATE_TAIL = re.compile(r"\d+:(?:x|b\d+)")


def state_id(limit: Limit) -> str:
    """The identity of a limit's counters: key, window and algorithm (not max_requests)."""
    tag = "x" if limit.algorithm == "exact" else f"b{limit.buckets}"
    return f"{limit.key}:{limit.window_us}:{tag}"


def build_plan(limits: Iterable[Limit] | Limit, cost: int) -> Plan:
    if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
        raise ValueError(f"cost must be a positive integer, got {cost!r}")
    if isinstance(limits, Limit):
        limits = (limits,)
    if isinstance(limits, str | bytes) or not isinstance(limits, Iterable):
        raise ValueError("limits must be a Limit or a sequence of Limit")
    ordered = tuple(limits)
    if not ordered:
        raise ValueError("at least one Limit is required")
    integrations: dict[str, int] = {}
    governed: list[tuple[int, ...]] = []
    seen: set[str] = set()
    for limit in ordered:
        if not isinstance(limit, Limit):
            raise ValueError(f"expected a Limit, got {type(limit).__name__}")
        if cost > limit.max_requests:
            raise ValueError(
                f"cost {cost} exceeds limit {limit.key!r} ({limit.max_requests} per "
                f"{limit.window_seconds} s): it could never be admitted"
            )
        ident = state_id(limit)
        if ident in seen:
            raise ValueError(f"limit {limit.key!r} with the same window appears twice")
        seen.add(ident)
        governed.append(
            tuple(integrations.setdefault(name, len(integrations)) for name in limit.integrations)
        )
    return Plan(
        limits=ordered,
        cost=cost,
        state_ids=tuple(state_id(limit) for limit in ordered),
        integrations=tuple(integrations),
        governed_by=tuple(governed),
    )
