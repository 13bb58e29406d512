"""The serverless surface: each function parses its trigger and calls one pipeline.

No business logic lives here. Settings are validated at import, so a bad deployment
fails at start with the name of the setting; backends are built on first use.

This module deliberately has no `from __future__ import annotations`: the Functions Python
worker reads the trigger parameters' annotations as real types to bind them.
"""

import functools
import logging
from datetime import timedelta
from typing import Any

import azure.functions as func

from blueprints.http import endpoint, json_response
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE
from integration_core.notify import run_notifier
from integration_core.observability import install_log_context, install_redaction, log_context
from integration_core.observability.telemetry import setup_telemetry
from integration_core.pipelines import check_app_health
from integration_core.pipelines.conflicts import decide_conflict, list_conflicts
from integration_core.pipelines.decisions import ConflictDecision, DuplicateDecision
from integration_core.pipelines.matching import decide_duplicate, list_duplicates
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.pipelines.token_refresh import run_token_refresh
from integration_core.pipelines.webhook_intake import MAX_BODY_BYTES as WEBHOOK_MAX_BODY_BYTES
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.pipelines.worker import handle_body
from integration_core.runtime import Runtime, build_runtime
from integration_core.settings import QueueBackend, load_host_settings

install_redaction()
install_log_context()
SETTINGS = load_host_settings()
setup_telemetry(
    connection_string=SETTINGS.applicationinsights_connection_string.get_secret_value()
    if SETTINGS.applicationinsights_connection_string
    else None,
    console=SETTINGS.otel_console,
)
logging.getLogger("integration_core").setLevel(SETTINGS.log_level)
log = logging.getLogger("function_app")

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@functools.cache
def runtime() -> Runtime:
    return build_runtime(SETTINGS)


@app.function_name("SyncScheduler")
@app.timer_trigger(schedule="%SYNC_SCHEDULE%", arg_name="timer", run_on_startup=False)
def sync_scheduler(timer: func.TimerRequest) -> None:
    with log_context():
        _run_scheduler(timer)


def _run_scheduler(timer: func.TimerRequest) -> None:
    report = run_scheduler(runtime())
    log.info(
        "SyncScheduler: %d enqueued, %d skipped (past due: %s)",
        len(report.enqueued),
        len(report.skipped),
        timer.past_due,
    )


@app.function_name("TokenRefresher")
@app.timer_trigger(schedule="%TOKEN_REFRESH_SCHEDULE%", arg_name="timer", run_on_startup=False)
def token_refresher(timer: func.TimerRequest) -> None:
    with log_context():
        _run_token_refresh(timer)


def _run_token_refresh(timer: func.TimerRequest) -> None:
    report = run_token_refresh(
        runtime().credentials,
        window=timedelta(minutes=SETTINGS.token_refresh_window_minutes),
        concurrency=SETTINGS.token_refresh_concurrency,
    )
    log.info(
        "TokenRefresher: %d considered, outcomes %s, past due: %s",
        report.considered,
        report.outcomes,
        timer.past_due,
    )


@app.function_name("Notifier")
@app.timer_trigger(schedule="%NOTIFY_SCHEDULE%", arg_name="timer", run_on_startup=False)
def notifier(timer: func.TimerRequest) -> None:
    with log_context():
        report = run_notifier(runtime())
    log.info("Notifier: %s, past due: %s", report, timer.past_due)


def _deliver(queue: str, body: bytes, delivery_id: str | None, count: int | None) -> None:
    handle_body(runtime(), queue, body, delivery_id=delivery_id or "", dequeue_count=count or 1)


def _register_worker(name: str, queue: str) -> None:
    """A queue-triggered worker on the backend QUEUE_BACKEND names.

    A message that can never succeed is dead-lettered with its reason and completed. Any
    other raised error leaves the message to the host: redelivered, then moved to the poison
    queue (Storage, after host.json maxDequeueCount) or dead-letter queue (Service Bus).
    """
    if SETTINGS.queue_backend is QueueBackend.SERVICEBUS:

        def servicebus_worker(msg: func.ServiceBusMessage) -> None:
            _deliver(queue, msg.get_body(), msg.message_id, msg.delivery_count)

        trigger = app.service_bus_queue_trigger(
            arg_name="msg", queue_name=queue, connection="ServiceBusConnection"
        )
        app.function_name(name)(trigger(servicebus_worker))
    else:

        def storage_worker(msg: func.QueueMessage) -> None:
            _deliver(queue, msg.get_body(), msg.id, msg.dequeue_count)

        trigger = app.queue_trigger(
            arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage"
        )
        app.function_name(name)(trigger(storage_worker))


_register_worker("InboundWorker", INBOUND_QUEUE)
_register_worker("OutboundWorker", OUTBOUND_QUEUE)


@app.function_name("WebhookReceiver")
@app.route(
    route="webhooks/{registration_id}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS
)
@endpoint(max_body_bytes=WEBHOOK_MAX_BODY_BYTES)
def webhook_receiver(req: func.HttpRequest, registration_id: str) -> func.HttpResponse:
    with log_context():
        reply = receive_webhook(
            runtime(),
            registration_id,
            headers=dict(req.headers),
            body=req.get_body(),
            url=req.url,
            method=req.method,
        )
    return func.HttpResponse(
        reply.body, status_code=reply.status, headers=reply.headers, mimetype=reply.content_type
    )


@app.function_name("AdminListConflicts")
@app.route(route="admin/tenants/{tenant_id}/conflicts", methods=["GET"])
@endpoint()
def admin_list_conflicts(tenant_id: str) -> list[dict[str, Any]]:
    return [c.to_document() for c in list_conflicts(runtime(), tenant_id)]


@app.function_name("AdminDecideConflict")
@app.route(route="admin/tenants/{tenant_id}/conflicts/{conflict_id}/decision", methods=["POST"])
@endpoint(body=ConflictDecision)
def admin_decide_conflict(
    tenant_id: str, conflict_id: str, body: ConflictDecision
) -> dict[str, Any]:
    return decide_conflict(runtime(), tenant_id, conflict_id, **body.model_dump()).to_document()


@app.function_name("AdminListDuplicates")
@app.route(route="admin/tenants/{tenant_id}/duplicates", methods=["GET"])
@endpoint()
def admin_list_duplicates(tenant_id: str) -> list[dict[str, Any]]:
    return [c.to_document() for c in list_duplicates(runtime(), tenant_id)]


@app.function_name("AdminDecideDuplicate")
@app.route(route="admin/tenants/{tenant_id}/duplicates/{candidate_id}/decision", methods=["POST"])
@endpoint(body=DuplicateDecision)
def admin_decide_duplicate(
    tenant_id: str, candidate_id: str, body: DuplicateDecision
) -> dict[str, Any]:
    return decide_duplicate(runtime(), tenant_id, candidate_id, **body.model_dump()).to_document()


@app.function_name("Health")
@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint()
def health() -> func.HttpResponse:
    report = check_app_health(lambda: runtime().health_probes())
    return json_response(report.to_json(), 200 if report.healthy else 503)
