"""Run the workers in-process until the queues are empty (the demo, the CLI, tests).

This is what the Functions host does with queue triggers, for a backend the app can
receive from itself: lease, handle, complete on success (or once the message is
dead-lettered as one that can never succeed), abandon on failure, and set a message aside
as poison once it has failed `max_attempts` times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from integration_core.messaging import ReceivedMessage
from integration_core.models import SyncResult
from integration_core.observability import log_context
from integration_core.pipelines.worker import HANDLERS, handle_message
from integration_core.runtime import Runtime

__all__ = ["DrainReport", "drain_queues", "HANDLERS"]

log = logging.getLogger(__name__)


@dataclass
class DrainReport:
    results: list[SyncResult] = field(default_factory=list)
    failures: int = 0
    poisoned: list[ReceivedMessage] = field(default_factory=list)


def drain_queues(
    rt: Runtime,
    *,
    max_attempts: int = 5,
    max_rounds: int = 10_000,
    after_each: Callable[[ReceivedMessage], None] | None = None,
) -> DrainReport:
    """`after_each` is told of every message handled (the CLI's progress bar)."""
    report = DrainReport()
    for _ in range(max_rounds):
        handled = 0
        for queue in HANDLERS:
            for received in rt.queue.receive(queue, max_messages=32, visibility_timeout=60.0):
                handled += 1
                message = received.message
                with log_context(
                    correlation_id=message.correlation_id, tenant_id=message.tenant_id
                ):
                    _handle_one(rt, received, report, max_attempts)
                if after_each is not None:
                    after_each(received)
        if handled == 0:
            return report
    raise RuntimeError(f"queues still busy after {max_rounds} rounds")


def _handle_one(
    rt: Runtime,
    received: ReceivedMessage,
    report: DrainReport,
    max_attempts: int,
) -> None:
    try:
        result = handle_message(
            rt,
            received.queue,
            received.message,
            delivery_id=received.message.message_id,
            dequeue_count=received.dequeue_count,
        )
    except Exception as err:  # noqa: BLE001 (like the Functions host: any failure is retried)
        report.failures += 1
        log.warning(
            "%s failed on attempt %d: %s",
            received.message.message_id,
            received.dequeue_count,
            type(err).__name__,
        )
        if received.dequeue_count >= max_attempts:
            report.poisoned.append(received)
            rt.queue.complete(received)
        else:
            rt.queue.abandon(received)
    else:
        if result is not None:  # None: dead-lettered, done with for good
            report.results.append(result)
        rt.queue.complete(received)
