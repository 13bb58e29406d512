"""Health: ask each backend whether it answers; 200 when all do, 503 otherwise."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["HealthReport", "check_health"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    checks: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"status": "healthy" if self.healthy else "unhealthy", "checks": self.checks}


def check_health(probes: Mapping[str, Callable[[], None]]) -> HealthReport:
    """Run each probe; a probe passes by returning and fails by raising.

    Only the error's class is reported: messages from SDKs can carry endpoints or keys.
    """
    checks: dict[str, dict[str, Any]] = {}
    for name, probe in probes.items():
        started = time.perf_counter()
        try:
            probe()
        except Exception as err:  # noqa: BLE001 (a health check reports any failure)
            log.warning("health check %s failed: %s", name, type(err).__name__)
            checks[name] = {"ok": False, "error": type(err).__name__}
        else:
            checks[name] = {"ok": True}
        checks[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return HealthReport(healthy=all(c["ok"] for c in checks.values()), checks=checks)
