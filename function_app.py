"""The serverless surface: each function parses its trigger and calls one pipeline.

No business logic lives here. Settings are validated at import, so a bad deployment
fails at start with the name of the setting; backends are built on first use.

This module deliberately has no `from __future__ import annotations`: the Functions Python
worker reads the trigger parameters' annotations as real types to bind them.
"""

import functools
import json
import logging
from datetime import timedelta

import azure.functions as func

from integration_core.errors import ConflictError, NotFoundError, PermanentError
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE
from integration_core.notify import run_notifier
from integration_core.observability import install_log_context, install_redaction, log_context
from integration_core.observability.telemetry import setup_telemetry
from integration_core.pipelines import check_health
from integration_core.pipelines.conflicts import decide_conflict, list_conflicts
from integration_core.pipelines.matching import decide_duplicate, list_duplicates
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.pipelines.token_refresh import run_token_refresh
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.pipelines.worker import handle_body
from integration_core.runtime import Runtime, build_runtime
from integration_core.settings import QueueBackend, load_settings

install_redaction()
install_log_context()
SETTINGS = load_settings()
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


def _json(body: object, status: int, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers=headers, mimetype="application/json"
    )


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
def webhook_receiver(req: func.HttpRequest) -> func.HttpResponse:
    with log_context():
        reply = receive_webhook(
            runtime(), req.route_params["registration_id"], dict(req.headers), req.get_body()
        )
    return _json(reply.body, reply.status, reply.headers)


@app.function_name("AdminListConflicts")
@app.route(route="admin/tenants/{tenant_id}/conflicts", methods=["GET"])
def admin_list_conflicts(req: func.HttpRequest) -> func.HttpResponse:
    conflicts = list_conflicts(runtime(), req.route_params["tenant_id"])
    return _json([c.to_document() for c in conflicts], 200)


@app.function_name("AdminDecideConflict")
@app.route(route="admin/tenants/{tenant_id}/conflicts/{conflict_id}/decision", methods=["POST"])
def admin_decide_conflict(req: func.HttpRequest) -> func.HttpResponse:
    try:
        body = req.get_json()
        winner, decided_by = str(body["winner"]), str(body["decided_by"])
    except (ValueError, KeyError, TypeError):
        return _json(
            {"error": 'body must be {"winner": "hub"|"incoming", "decided_by": "..."}'}, 400
        )
    try:
        conflict = decide_conflict(
            runtime(),
            req.route_params["tenant_id"],
            req.route_params["conflict_id"],
            winner=winner,
            decided_by=decided_by,
        )
    except NotFoundError:
        return _json({"error": "no such conflict"}, 404)
    except PermanentError as err:
        return _json({"error": str(err)}, 400)
    except ConflictError as err:
        return _json({"error": str(err)}, 409)
    return _json(conflict.to_document(), 200)


@app.function_name("AdminListDuplicates")
@app.route(route="admin/tenants/{tenant_id}/duplicates", methods=["GET"])
def admin_list_duplicates(req: func.HttpRequest) -> func.HttpResponse:
    candidates = list_duplicates(runtime(), req.route_params["tenant_id"])
    return _json([c.to_document() for c in candidates], 200)


@app.function_name("AdminDecideDuplicate")
@app.route(route="admin/tenants/{tenant_id}/duplicates/{candidate_id}/decision", methods=["POST"])
def admin_decide_duplicate(req: func.HttpRequest) -> func.HttpResponse:
    try:
        body = req.get_json()
        same, decided_by = body["same"], str(body["decided_by"])
        if not isinstance(same, bool):
            raise TypeError("same must be true or false")
    except (ValueError, KeyError, TypeError):
        return _json({"error": 'body must be {"same": true|false, "decided_by": "..."}'}, 400)
    try:
        candidate = decide_duplicate(
            runtime(),
            req.route_params["tenant_id"],
            req.route_params["candidate_id"],
            same=same,
            decided_by=decided_by,
        )
    except NotFoundError:
        return _json({"error": "no such duplicate candidate"}, 404)
    except ConflictError as err:
        return _json({"error": str(err)}, 409)
    return _json(candidate.to_document(), 200)


@app.function_name("Health")
@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    report = check_health(runtime().health_probes())
    return _json(report.to_json(), 200 if report.healthy else 503)
