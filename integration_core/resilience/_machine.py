"""The breaker's state machine, pure: one state in, one event, the next state out.

closed --N hard failures within the window--> open --cooling-off elapsed--> half_open (one
probe at a time) --success--> closed, --failure--> open again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["Event", "Machine", "Snapshot", "step"]

Event = Literal["admit", "failure", "success"]


@dataclass(frozen=True)
class Machine:
    failures: int
    window: float
    cooldown: float
    probe_lease: float


@dataclass(frozen=True)
class Snapshot:
    state: str = "closed"
    failures: int = 0
    window_start: float = 0.0
    opened_at: float = 0.0
    probe_until: float = 0.0

    def to_json(self) -> dict[str, float | int | str]:
        return vars(self).copy()


CLOSED = Snapshot()


def step(now: float, snapshot: Snapshot, event: Event, machine: Machine) -> tuple[Snapshot, float]:
    """The next snapshot, and for `admit` how long the caller must wait (0: go ahead)."""
    if event == "admit":
        return _admit(now, snapshot, machine)
    if event == "success":
        # A late success from a call begun before the circuit opened does not close it.
        return (snapshot, 0.0) if snapshot.state == "open" else (CLOSED, 0.0)
    if snapshot.state == "half_open":
        return Snapshot(state="open", opened_at=now), 0.0
    if snapshot.state == "open":
        return snapshot, 0.0
    if now - snapshot.window_start > machine.window:
        snapshot = replace(snapshot, failures=0, window_start=now)
    failures = snapshot.failures + 1
    if failures >= machine.failures:
        return Snapshot(state="open", opened_at=now), 0.0
    return replace(snapshot, failures=failures), 0.0


def _admit(now: float, snapshot: Snapshot, machine: Machine) -> tuple[Snapshot, float]:
    if snapshot.state == "closed":
        return snapshot, 0.0
    if snapshot.state == "open" and now < snapshot.opened_at + machine.cooldown:
        return snapshot, snapshot.opened_at + machine.cooldown - now
    if snapshot.state == "half_open" and now < snapshot.probe_until:
        return snapshot, snapshot.probe_until - now
    return Snapshot(state="half_open", probe_until=now + machine.probe_lease), 0.0
