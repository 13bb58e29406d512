"""Health: ask each backend whether it answers; 200 when all do, 503 otherwise."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from integration_core.errors import ConfigurationError

__all__ = ["HealthReport", "check_health", "check_app_health"]

Probes = Mapping[str, Callable[[], None]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    checks: dict[str, dict[str, Any]]
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "healthy" if self.healthy else "unhealthy",
            "checks": self.checks,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        return body


def check_app_health(build_probes: Callable[[], Probes]) -> HealthReport:
    """`check_health` on the probes `build_probes` makes; never raises.

    Building the backends is itself the first check (an unreachable store fails it): its
    failure is a 503 with a reason, not an error from the Health function.
    """
    try:
        probes = build_probes()
    except Exception as err:  # noqa: BLE001 (a health check reports any failure)
        log.warning("health: the backends could not be built: %s", type(err).__name__)
        # Only our own configuration messages are shown; SDK messages can carry endpoints.
        detail = f": {err}" if isinstance(err, ConfigurationError) else ""
        return HealthReport(
            healthy=False,
            checks={},
            reason=f"the backends could not be built ({type(err).__name__}){detail}",
        )
    report = check_health(probes)
    if report.healthy:
        return report
    failed = ", ".join(name for name, check in report.checks.items() if not check["ok"])
    return HealthReport(healthy=False, checks=report.checks, reason=f"not answering: {failed}")


def check_health(probes: Probes) -> HealthReport:
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
