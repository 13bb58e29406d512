"""Service Bus backend at the SDK boundary (no Service Bus emulator runs without Docker).

A fake ServiceBusClient hands out fake senders and receivers that record what the backend
gives the SDK: the real azure.servicebus.ServiceBusMessage objects on send, and which
settle call each real ServiceBusReceivedMessage got. Received messages are built from the
sent ones through the SDK's own AMQP encoding, so the body round-trips as on the wire.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus._pyamqp.message import Header
from azure.servicebus._transport._pyamqp_transport import PyamqpTransport
from azure.servicebus.exceptions import MessageLockLostError, OperationTimeoutError

from integration_core.errors import AuthError, NotFoundError, RetryableError
from integration_core.messaging.servicebus import ServiceBusMessageQueue
from integration_core.models import MessageKind, SyncMessage

pytestmark = pytest.mark.unit


def sync_message(n: int = 1, *, connection: str = "conn-1", attempt: int = 0) -> SyncMessage:
    return SyncMessage(
        message_id=f"msg-{n}",
        tenant_id="tenant-a",
        connection_id=connection,
        kind=MessageKind.PUSH,
        correlation_id=f"corr-{n}",
        attempt=attempt,
        payload={"name": "Zoë 東京"},
    )


def received_from(sent: ServiceBusMessage, *, delivery_count: int = 0) -> ServiceBusReceivedMessage:
    """What a receiver would hand back for `sent` (SDK internals: test-only)."""
    amqp = PyamqpTransport.to_outgoing_amqp_message(sent._raw_amqp_message)
    amqp = amqp._replace(header=Header(delivery_count=delivery_count))
    return ServiceBusReceivedMessage(amqp, receiver=None, frame=None)


class FakeSender:
    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.sent: list[ServiceBusMessage] = []
        self.closed = False
        self.opened = 0

    def send_messages(self, message: ServiceBusMessage) -> None:
        assert isinstance(message, ServiceBusMessage)
        self.sent.append(message)

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeSender:
        self.opened += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeReceiver:
    def __init__(self, queue: str, session_id: object, inbox: list[ServiceBusReceivedMessage]):
        self.queue = queue
        self.session_id = session_id
        self.inbox = inbox
        self.settled: list[tuple[str, ServiceBusReceivedMessage]] = []
        self.closed = False
        self.lock_lost = False
        self.no_session = False
        self.peekable: list[Any] = []

    def receive_messages(
        self, max_message_count: int = 1, max_wait_time: float | None = None
    ) -> list[ServiceBusReceivedMessage]:
        if self.no_session:
            raise OperationTimeoutError(message="no session available")
        taken = self.inbox[:max_message_count]
        del self.inbox[:max_message_count]
        return taken

    def _settle(self, how: str, message: ServiceBusReceivedMessage) -> None:
        if self.lock_lost:
            raise MessageLockLostError(message="lock expired")
        self.settled.append((how, message))

    def complete_message(self, message: ServiceBusReceivedMessage) -> None:
        self._settle("complete", message)

    def abandon_message(self, message: ServiceBusReceivedMessage) -> None:
        self._settle("abandon", message)

    def dead_letter_message(
        self,
        message: ServiceBusReceivedMessage,
        reason: str | None = None,
        error_description: str | None = None,
    ) -> None:
        self._settle(f"dead-letter: {reason}", message)

    def peek_messages(self, max_message_count: int = 1) -> list[Any]:
        return self.peekable[:max_message_count]

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeClient:
    def __init__(self) -> None:
        self.senders: dict[str, FakeSender] = {}
        self.receivers: list[FakeReceiver] = []
        self.inbox: dict[str, list[ServiceBusReceivedMessage]] = {}
        self.receiver_options: list[dict[str, Any]] = []
        self.peeked: dict[str, list[Any]] = {}
        self.closed = False

    def get_queue_sender(self, queue_name: str) -> FakeSender:
        return self.senders.setdefault(queue_name, FakeSender(queue_name))

    def get_queue_receiver(self, queue_name: str, **options: Any) -> FakeReceiver:
        self.receiver_options.append(options)
        receiver = FakeReceiver(
            queue_name, options.get("session_id"), self.inbox.setdefault(queue_name, [])
        )
        receiver.peekable = self.peeked.get(queue_name, [])
        self.receivers.append(receiver)
        return receiver

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


def backend(client: FakeClient, *, sessions: bool = False) -> ServiceBusMessageQueue:
    return ServiceBusMessageQueue(client, sessions=sessions)  # type: ignore[arg-type]


def test_send_maps_the_envelope_onto_the_message(client: FakeClient) -> None:
    backend(client).send("sync-outbound", sync_message(1, attempt=2))
    [sent] = client.senders["sync-outbound"].sent
    assert sent.message_id == "msg-1"
    assert sent.partition_key == "conn-1"
    assert sent.session_id is None
    assert sent.correlation_id == "corr-1"
    assert sent.content_type == "application/json"
    assert sent.subject == "push"
    assert sent.application_properties == {
        "tenantId": "tenant-a",
        "kind": "push",
        "correlationId": "corr-1",
        "attempt": 2,
    }
    assert sent.scheduled_enqueue_time_utc is None
    assert SyncMessage.from_json(str(sent)) == sync_message(1, attempt=2)


def test_sessions_put_the_connection_in_the_session_id(client: FakeClient) -> None:
    backend(client, sessions=True).send("sync-inbound", sync_message(1, connection="conn-9"))
    [sent] = client.senders["sync-inbound"].sent
    assert sent.session_id == "conn-9"
    assert sent.partition_key in (None, "conn-9")  # the SDK allows only the session id


def test_delay_is_a_scheduled_enqueue_time(client: FakeClient) -> None:
    before = datetime.now(UTC)
    backend(client).send("sync-inbound", sync_message(1), delay_seconds=90)
    after = datetime.now(UTC)
    [sent] = client.senders["sync-inbound"].sent
    scheduled = sent.scheduled_enqueue_time_utc
    assert scheduled is not None
    assert scheduled.tzinfo is not None
    assert before + timedelta(seconds=90) <= scheduled <= after + timedelta(seconds=90)


def test_one_sender_per_queue_is_reused_and_closed(client: FakeClient) -> None:
    queue = backend(client)
    queue.send("sync-inbound", sync_message(1))
    queue.send("sync-inbound", sync_message(2))
    queue.send("sync-outbound", sync_message(3))
    assert [m.message_id for m in client.senders["sync-inbound"].sent] == ["msg-1", "msg-2"]
    queue.close()
    assert all(sender.closed for sender in client.senders.values())
    assert client.closed


def test_receive_parses_and_counts_deliveries(client: FakeClient) -> None:
    queue = backend(client)
    queue.send("sync-inbound", sync_message(1))
    [sent] = client.senders["sync-inbound"].sent
    client.inbox["sync-inbound"] = [received_from(sent, delivery_count=0)]
    [got] = queue.receive("sync-inbound", max_messages=5)
    assert got.message == sync_message(1)
    assert got.dequeue_count == 1  # first delivery, as with Storage queues
    assert got.queue == "sync-inbound"


def test_complete_and_abandon_settle_through_the_receiver(client: FakeClient) -> None:
    queue = backend(client)
    for n in (1, 2):
        queue.send("sync-inbound", sync_message(n))
    client.inbox["sync-inbound"] = [
        received_from(m, delivery_count=3) for m in client.senders["sync-inbound"].sent
    ]
    first, second = queue.receive("sync-inbound")
    assert first.dequeue_count == 4
    queue.complete(first)
    queue.abandon(second)
    [receiver] = client.receivers
    assert [(how, m.message_id) for how, m in receiver.settled] == [
        ("complete", "msg-1"),
        ("abandon", "msg-2"),
    ]
    assert not receiver.closed  # the shared receiver stays open for the next receive


def test_lost_lock_is_not_found(client: FakeClient) -> None:
    queue = backend(client)
    queue.send("sync-inbound", sync_message(1))
    client.inbox["sync-inbound"] = [received_from(client.senders["sync-inbound"].sent[0])]
    [got] = queue.receive("sync-inbound")
    client.receivers[0].lock_lost = True
    with pytest.raises(NotFoundError):
        queue.complete(got)


def test_foreign_body_is_dead_lettered(client: FakeClient) -> None:
    queue = backend(client)
    client.inbox["sync-inbound"] = [received_from(ServiceBusMessage('{"not": "ours"}'))]
    assert list(queue.receive("sync-inbound")) == []
    [(how, _)] = client.receivers[0].settled
    assert how == "dead-letter: not a SyncMessage"


def test_session_receive_takes_the_next_session_and_closes_when_settled(
    client: FakeClient,
) -> None:
    queue = backend(client, sessions=True)
    queue.send("sync-inbound", sync_message(1))
    client.inbox["sync-inbound"] = [received_from(client.senders["sync-inbound"].sent[0])]
    [got] = queue.receive("sync-inbound")
    assert client.receiver_options[0]["session_id"] is NEXT_AVAILABLE_SESSION
    [receiver] = client.receivers
    assert not receiver.closed
    queue.complete(got)
    assert receiver.closed


def test_session_receive_with_no_session_waiting_returns_nothing(client: FakeClient) -> None:
    queue = backend(client, sessions=True)
    original = client.get_queue_receiver

    def no_sessions(queue_name: str, **options: Any) -> FakeReceiver:
        receiver = original(queue_name, **options)
        receiver.no_session = True
        return receiver

    client.get_queue_receiver = no_sessions  # type: ignore[method-assign]
    assert list(queue.receive("sync-inbound")) == []
    assert client.receivers[0].closed


def test_ping_opens_a_link_to_the_inbound_queue(client: FakeClient) -> None:
    backend(client).ping()
    assert client.senders["sync-inbound"].opened == 1


class FakeAdministration:
    """The administration client's runtime properties of a queue (the counts it reports)."""

    def __init__(self, active: int, scheduled: int, *, status: int | None = None) -> None:
        self.counts = SimpleNamespace(
            active_message_count=active, scheduled_message_count=scheduled
        )
        self.status = status
        self.asked: list[str] = []

    def get_queue_runtime_properties(self, queue_name: str) -> SimpleNamespace:
        self.asked.append(queue_name)
        if self.status is not None:
            raise HttpResponseError(response=SimpleNamespace(status_code=self.status, reason="no"))
        return self.counts

    def close(self) -> None:
        pass


def test_backlog_counts_active_and_scheduled_and_peeks_the_oldest(client: FakeClient) -> None:
    enqueued = datetime.now(UTC) - timedelta(seconds=90)
    client.peeked["sync-inbound"] = [SimpleNamespace(enqueued_time_utc=enqueued)]
    admin = FakeAdministration(active=3, scheduled=2)
    queue = ServiceBusMessageQueue(client, admin=admin)  # type: ignore[arg-type]
    backlog = queue.backlog("sync-inbound")
    assert backlog.depth == 5
    assert backlog.oldest_age_seconds is not None
    assert 89 <= backlog.oldest_age_seconds < 120
    assert admin.asked == ["sync-inbound"]
    assert client.receivers[-1].closed  # the peeking receiver is not kept open


def test_backlog_of_session_queues_or_empty_ones_does_not_peek(client: FakeClient) -> None:
    sessions = ServiceBusMessageQueue(
        client,
        sessions=True,
        admin=FakeAdministration(active=4, scheduled=0),  # type: ignore[arg-type]
    )
    assert sessions.backlog("sync-inbound").depth == 4
    empty = ServiceBusMessageQueue(client, admin=FakeAdministration(0, 0))  # type: ignore[arg-type]
    assert empty.backlog("sync-inbound").oldest_age_seconds is None
    assert client.receivers == []


def test_backlog_without_the_manage_right_is_an_auth_error(client: FakeClient) -> None:
    refused = ServiceBusMessageQueue(
        client,
        admin=FakeAdministration(0, 0, status=401),  # type: ignore[arg-type]
    )
    with pytest.raises(AuthError, match="Manage right"):
        refused.backlog("sync-inbound")
    with pytest.raises(RetryableError):
        ServiceBusMessageQueue(
            client,
            admin=FakeAdministration(0, 0, status=503),  # type: ignore[arg-type]
        ).backlog("sync-inbound")
