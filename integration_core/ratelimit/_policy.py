"""Turn a response signal into a change of the adaptive multiplier (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from integration_core.ratelimit.headers import ResponseSignal
from integration_core.ratelimit.models import AdaptivePolicy

__all__ = ["Adjustment", "adjustment_for", "apply_adjustment"]


@dataclass(frozen=True, slots=True)
class Adjustment:
    """new = max(floor, min(1, min(old * factor, cap) + recover)); block for block_seconds."""

    factor: float = 1.0
    cap: float = 1.0
    recover: float = 0.0
    block_seconds: float = 0.0


def adjustment_for(signal: ResponseSignal, policy: AdaptivePolicy) -> Adjustment:
    factor = policy.decrease if signal.throttled else 1.0
    cap = 1.0
    pressed = signal.headroom is not None and signal.headroom < policy.headroom
    if pressed and signal.headroom is not None:
        cap = max(policy.floor, signal.headroom / policy.headroom)
    recover = policy.recover_step if signal.ok and not signal.throttled and not pressed else 0.0
    block = min(signal.block_seconds, policy.max_block_seconds)
    return Adjustment(factor=factor, cap=cap, recover=recover, block_seconds=block)


def apply_adjustment(multiplier: float, adjustment: Adjustment, policy: AdaptivePolicy) -> float:
    value = min(multiplier * adjustment.factor, adjustment.cap) + adjustment.recover
    return max(policy.floor, min(1.0, value))
