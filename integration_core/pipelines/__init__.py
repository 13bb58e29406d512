"""The orchestrations behind each function: what function_app.py and the CLI call."""

from __future__ import annotations

from integration_core.pipelines.health import check_app_health, check_health
from integration_core.pipelines.inbound import process_inbound
from integration_core.pipelines.outbound import process_outbound
from integration_core.pipelines.scheduler import run_scheduler

__all__ = [
    "check_app_health",
    "check_health",
    "process_inbound",
    "process_outbound",
    "run_scheduler",
]
