"""The timers and the queue workers: the scheduler, the token refresher, inbound, outbound.

Like function_app.py, this module has no `from __future__ import annotations`: the
Functions worker reads the trigger parameters' annotations as real types to bind them.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

import azure.functions as func

from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE
from integration_core.notify import run_notifier
from integration_core.observability import log_context
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.pipelines.token_refresh import run_token_refresh
from integration_core.pipelines.worker import handle_body
from integration_core.runtime import Runtime
from integration_core.settings import QueueBackend

__all__ = ["blueprint"]

log = logging.getLogger(__name__)


def blueprint(runtime: Callable[[], Runtime], *, queue_backend: QueueBackend) -> func.Blueprint:
    """The timers, and a worker per queue on the trigger type `queue_backend` names."""
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here

    @bp.function_name("SyncScheduler")
    @bp.timer_trigger(schedule="%SYNC_SCHEDULE%", arg_name="timer", run_on_startup=False)
    def sync_scheduler(timer: func.TimerRequest) -> None:
        with log_context():
            report = run_scheduler(runtime())
            log.info(
                "SyncScheduler: %d enqueued, %d skipped (past due: %s)",
                len(report.enqueued),
                len(report.skipped),
                timer.past_due,
            )

    @bp.function_name("TokenRefresher")
    @bp.timer_trigger(schedule="%TOKEN_REFRESH_SCHEDULE%", arg_name="timer", run_on_startup=False)
    def token_refresher(timer: func.TimerRequest) -> None:
        rt = runtime()
        with log_context():
            report = run_token_refresh(
                rt.credentials,
                window=timedelta(minutes=rt.settings.token_refresh_window_minutes),
                concurrency=rt.settings.token_refresh_concurrency,
            )
            log.info(
                "TokenRefresher: %d considered, outcomes %s, past due: %s",
                report.considered,
                report.outcomes,
                timer.past_due,
            )

    @bp.function_name("Notifier")
    @bp.timer_trigger(schedule="%NOTIFY_SCHEDULE%", arg_name="timer", run_on_startup=False)
    def notifier(timer: func.TimerRequest) -> None:
        with log_context():
            report = run_notifier(runtime())
            log.info("Notifier: %s, past due: %s", report, timer.past_due)

    for name, queue in (("InboundWorker", INBOUND_QUEUE), ("OutboundWorker", OUTBOUND_QUEUE)):
        _register_worker(bp, runtime, name=name, queue=queue, backend=queue_backend)
    return bp


def _register_worker(
    bp: func.Blueprint,
    runtime: Callable[[], Runtime],
    *,
    name: str,
    queue: str,
    backend: QueueBackend,
) -> None:
    """A queue-triggered worker on the backend QUEUE_BACKEND names.

    A message that can never succeed is dead-lettered with its reason and completed. Any
    other raised error leaves the message to the host: redelivered, then moved to the poison
    queue (Storage, after host.json maxDequeueCount) or dead-letter queue (Service Bus).
    """

    def deliver(body: bytes, delivery_id: str | None, count: int | None) -> None:
        handle_body(runtime(), queue, body, delivery_id=delivery_id or "", dequeue_count=count or 1)

    if backend is QueueBackend.SERVICEBUS:

        def servicebus_worker(msg: func.ServiceBusMessage) -> None:
            deliver(msg.get_body(), msg.message_id, msg.delivery_count)

        trigger = bp.service_bus_queue_trigger(
            arg_name="msg", queue_name=queue, connection="ServiceBusConnection"
        )
        bp.function_name(name)(trigger(servicebus_worker))
    else:

        def storage_worker(msg: func.QueueMessage) -> None:
            deliver(msg.get_body(), msg.id, msg.dequeue_count)

        trigger = bp.queue_trigger(
            arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage"
        )
        bp.function_name(name)(trigger(storage_worker))
