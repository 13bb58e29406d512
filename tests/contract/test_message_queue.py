"""The MessageQueue contract: inline and Storage queues (Azurite) pass the same tests.

Times are real (a storage queue counts whole seconds), kept to one or two seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from integration_core.errors import NotFoundError
from integration_core.messaging import Backlog, MessageQueue, ReceivedMessage
from integration_core.models import MessageKind, SyncMessage

Q = "sync-inbound"


def message(n: int = 1, **payload: object) -> SyncMessage:
    return SyncMessage(
        message_id=f"m{n}",
        tenant_id="t1",
        connection_id="conn-1",
        kind=MessageKind.PULL,
        correlation_id=f"corr-{n}",
        attempt=0,
        payload=dict(payload),
    )


def receive_within(
    queue: MessageQueue, seconds: float, *, visibility_timeout: float = 30.0
) -> Sequence[ReceivedMessage]:
    """Poll until something arrives or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        found = queue.receive(Q, visibility_timeout=visibility_timeout)
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


def test_receive_from_an_empty_queue_returns_nothing(message_queue: MessageQueue) -> None:
    assert list(message_queue.receive(Q)) == []


def test_send_receive_complete(message_queue: MessageQueue) -> None:
    sent = message(1, cursor="abc")
    message_queue.send(Q, sent)
    [got] = message_queue.receive(Q, visibility_timeout=1)
    assert got.message == sent
    assert got.queue == Q
    assert got.dequeue_count == 1
    message_queue.complete(got)
    time.sleep(1.5)  # past the visibility timeout: a completed message never comes back
    assert list(message_queue.receive(Q)) == []


def test_body_round_trips_unicode_and_nesting(message_queue: MessageQueue) -> None:
    sent = message(
        7,
        name="Zoë Ångström — 東京 🚀",
        nested={"list": [1, 2.5, None, True], "empty": {}},
        quote='"\\<xml>&amp;',
    )
    message_queue.send(Q, sent)
    [got] = message_queue.receive(Q)
    assert got.message == sent
    assert got.message.payload["name"] == "Zoë Ångström — 東京 🚀"


def test_a_leased_message_is_invisible_to_other_receivers(message_queue: MessageQueue) -> None:
    message_queue.send(Q, message(1))
    assert len(message_queue.receive(Q, visibility_timeout=30)) == 1
    assert list(message_queue.receive(Q, visibility_timeout=30)) == []


def test_abandon_redelivers_now_with_a_higher_dequeue_count(message_queue: MessageQueue) -> None:
    message_queue.send(Q, message(1))
    [first] = message_queue.receive(Q, visibility_timeout=60)
    message_queue.abandon(first)
    [second] = message_queue.receive(Q, visibility_timeout=60)
    assert second.message == first.message
    assert second.dequeue_count == 2
    message_queue.complete(second)
    assert list(message_queue.receive(Q)) == []


def test_visibility_timeout_expiry_redelivers(message_queue: MessageQueue) -> None:
    message_queue.send(Q, message(1))
    [first] = message_queue.receive(Q, visibility_timeout=1)
    assert list(message_queue.receive(Q, visibility_timeout=1)) == []
    [second] = receive_within(message_queue, 5, visibility_timeout=30)
    assert second.message == first.message
    assert second.dequeue_count == 2
    # The first lease is gone: settling it must not silently succeed.
    with pytest.raises(NotFoundError):
        message_queue.complete(first)
    message_queue.complete(second)
    assert list(message_queue.receive(Q)) == []


def test_settling_twice_is_not_found(message_queue: MessageQueue) -> None:
    message_queue.send(Q, message(1))
    [got] = message_queue.receive(Q)
    message_queue.complete(got)
    with pytest.raises(NotFoundError):
        message_queue.complete(got)
    with pytest.raises(NotFoundError):
        message_queue.abandon(got)


def test_delayed_send_becomes_visible_later(message_queue: MessageQueue) -> None:
    message_queue.send(Q, message(1), delay_seconds=1)
    message_queue.send(Q, message(2))
    [now] = message_queue.receive(Q)
    assert now.message.message_id == "m2"
    assert list(message_queue.receive(Q)) == []
    [later] = receive_within(message_queue, 5)
    assert later.message.message_id == "m1"
    assert later.dequeue_count == 1


def test_max_messages_caps_a_receive(message_queue: MessageQueue) -> None:
    for n in range(5):
        message_queue.send(Q, message(n))
    first = message_queue.receive(Q, max_messages=3)
    rest = message_queue.receive(Q, max_messages=10)
    assert len(first) == 3
    assert len(rest) == 2
    got = {r.message.message_id for r in [*first, *rest]}
    assert got == {f"m{n}" for n in range(5)}


def test_queues_are_separate(message_queue: MessageQueue) -> None:
    message_queue.send("sync-outbound", message(1))
    assert list(message_queue.receive(Q)) == []
    [got] = message_queue.receive("sync-outbound")
    assert got.queue == "sync-outbound"
    message_queue.complete(got)


def test_redelivered_message_is_a_duplicate_the_consumer_can_spot(
    message_queue: MessageQueue,
) -> None:
    """Same message id on every delivery: what idempotent consumers key on."""
    message_queue.send(Q, message(42))
    [first] = message_queue.receive(Q)
    message_queue.abandon(first)
    [second] = message_queue.receive(Q)
    assert first.message.message_id == second.message.message_id == "m42"


def test_ping(message_queue: MessageQueue) -> None:
    message_queue.ping()


def test_backlog_counts_what_waits_and_ages_the_oldest(message_queue: MessageQueue) -> None:
    assert message_queue.backlog(Q) == Backlog(depth=0, oldest_age_seconds=None)
    message_queue.send(Q, message(1))
    time.sleep(1.2)
    message_queue.send(Q, message(2))
    backlog = message_queue.backlog(Q)
    assert backlog.depth == 2
    assert backlog.oldest_age_seconds is not None
    assert 1.0 <= backlog.oldest_age_seconds < 60
    [first, second] = receive_within(message_queue, 5)
    message_queue.complete(first)
    message_queue.complete(second)
    assert message_queue.backlog(Q).depth == 0
