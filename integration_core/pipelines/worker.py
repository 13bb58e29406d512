"""One queue delivery through its worker: what is retried, and what is set aside at once.

A delivery that can never succeed is recorded once in `dead-letters` with its reason and
completed, instead of failing five times into the poison queue with no reason: a body
that is not a SyncMessage (invalid JSON, a missing or mistyped field), a kind the queue's
worker does not handle, an `attempt` out of range, and whatever the worker raises as a
`PermanentError` (no task_id or entity_id, ids that name nothing, a record the provider
refuses for good) or as a pydantic `ValidationError` (a payload or document that does not
fit its model will not fit it on the next delivery either). Every other error is raised,
so the host redelivers the message.

The function app's queue triggers call `handle_body`; the in-process drain loop calls
`handle_message` with the envelope its queue already parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pydantic import ValidationError

from integration_core.errors import PermanentError
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE
from integration_core.models import MessageKind, SyncMessage, SyncResult
from integration_core.notify.sources import sync_failed, sync_succeeded, unthrottled
from integration_core.observability import log_context
from integration_core.observability.metrics import timed
from integration_core.observability.telemetry import span_from
from integration_core.pipelines.dead_letters import dead_letter_body, dead_letter_message
from integration_core.pipelines.inbound import process_inbound
from integration_core.pipelines.outbound import process_outbound
from integration_core.pipelines.throttle import MAX_ATTEMPT, done_after_postponing
from integration_core.runtime import Runtime

__all__ = ["HANDLERS", "KINDS", "Handler", "handle_body", "handle_message", "parse_body"]

Handler = Callable[[Runtime, SyncMessage], SyncResult]
HANDLERS: Mapping[str, Handler] = {
    INBOUND_QUEUE: process_inbound,
    OUTBOUND_QUEUE: process_outbound,
}
KINDS: Mapping[str, frozenset[MessageKind]] = {
    INBOUND_QUEUE: frozenset({MessageKind.PULL, MessageKind.WEBHOOK}),
    OUTBOUND_QUEUE: frozenset({MessageKind.PUSH}),
}


def parse_body(body: bytes) -> SyncMessage:
    """The envelope in a queue body; `PermanentError` naming each problem (never the
    offending values, which may be anything) when it is not one.
    """
    try:
        return SyncMessage.from_json(body)
    except ValidationError as err:
        raise PermanentError(f"not a SyncMessage: {_problems(err)}") from err


def handle_body(
    rt: Runtime, queue: str, body: bytes, *, delivery_id: str, dequeue_count: int
) -> SyncResult | None:
    """Handle one delivery as the host hands it over; None when it was dead-lettered.

    A body that is no envelope has no correlation id of its own: its lines carry the
    delivery id instead.
    """
    try:
        message = parse_body(body)
    except PermanentError as err:
        with log_context(correlation_id=delivery_id or None):
            dead_letter_body(
                rt.store,
                body,
                str(err),
                queue=queue,
                delivery_id=delivery_id,
                dequeue_count=dequeue_count,
            )
        return None
    return handle_message(rt, queue, message, delivery_id=delivery_id, dequeue_count=dequeue_count)


def handle_message(
    rt: Runtime, queue: str, message: SyncMessage, *, delivery_id: str, dequeue_count: int
) -> SyncResult | None:
    """Run the queue's worker on `message`; None when it was dead-lettered."""
    with (
        log_context(correlation_id=message.correlation_id, tenant_id=message.tenant_id),
        span_from(
            message.traceparent,
            f"lockstep.{queue}",
            tenant=message.tenant_id,
            connection=message.connection_id,
            correlation_id=message.correlation_id,
        ),
        timed(queue, connection=message.connection_id),
    ):
        return _run_worker(rt, queue, message, delivery_id=delivery_id, dequeue_count=dequeue_count)


def _run_worker(
    rt: Runtime, queue: str, message: SyncMessage, *, delivery_id: str, dequeue_count: int
) -> SyncResult | None:
    try:
        _check_envelope(queue, message)
        result = HANDLERS[queue](rt, message)
    except (PermanentError, ValidationError) as err:
        reason = _problems(err) if isinstance(err, ValidationError) else str(err)
        dead_letter_message(
            rt.store,
            message,
            reason,
            queue=queue,
            delivery_id=delivery_id,
            dequeue_count=dequeue_count,
        )
        return None
    except Exception:
        sync_failed(rt.store, message, dequeue_count=dequeue_count)
        raise
    sync_succeeded(rt.store, message)
    if done_after_postponing(message, result):
        unthrottled(rt.store, message)
    return result


def _check_envelope(queue: str, message: SyncMessage) -> None:
    if message.kind not in KINDS[queue]:
        raise PermanentError(f"{queue} does not handle {message.kind.value} messages")
    if not 0 <= message.attempt <= MAX_ATTEMPT:
        raise PermanentError(f"attempt {message.attempt} is outside 0..{MAX_ATTEMPT}")


def _problems(err: ValidationError) -> str:
    """Each problem's location and message, never the offending value (it may be anything)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
        for problem in err.errors(include_url=False, include_input=False)
    )
