"""MessageQueue on Azure Service Bus queues.

Each SyncMessage becomes one ServiceBusMessage: `message_id` is the envelope's deterministic
id (duplicate detection, when enabled on the queue, drops a second send), the connection id
is the session id (session-enabled queues: one connection's messages in order) or else the
partition key, and tenant, kind, correlation id and attempt travel as application
properties so they can be filtered and seen in the portal without parsing the body.
A delay is a scheduled enqueue time.

The lock duration (visibility timeout) is a property of the queue in Service Bus, set in
infra; `receive` cannot change it per call. A body that is not a SyncMessage is
dead-lettered, Service Bus's poison queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.servicebus import (
    NEXT_AVAILABLE_SESSION,
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusReceivedMessage,
    ServiceBusReceiver,
    ServiceBusSender,
)
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    MessageSizeExceededError,
    MessagingEntityDisabledError,
    MessagingEntityNotFoundError,
    OperationTimeoutError,
    ServiceBusAuthenticationError,
    ServiceBusAuthorizationError,
    ServiceBusError,
    SessionLockLostError,
)
from azure.servicebus.management import ServiceBusAdministrationClient
from pydantic import ValidationError

from integration_core.clock import utcnow
from integration_core.errors import (
    AuthError,
    ConfigurationError,
    NotFoundError,
    PermanentError,
    RetryableError,
)
from integration_core.messaging.base import INBOUND_QUEUE, Backlog, ReceivedMessage
from integration_core.models import SyncMessage

__all__ = ["ServiceBusMessageQueue", "to_servicebus_message"]

logger = logging.getLogger(__name__)


def to_servicebus_message(
    message: SyncMessage, *, sessions: bool, delay_seconds: float = 0.0
) -> ServiceBusMessage:
    """The ServiceBusMessage that carries `message`."""
    if delay_seconds < 0:
        raise ValueError("delay_seconds must be >= 0")
    return ServiceBusMessage(
        message.to_json(),
        message_id=message.message_id,
        content_type="application/json",
        correlation_id=message.correlation_id,
        subject=message.kind.value,
        session_id=message.connection_id if sessions else None,
        partition_key=None if sessions else message.connection_id,
        application_properties={
            "tenantId": message.tenant_id,
            "kind": message.kind.value,
            "correlationId": message.correlation_id,
            "attempt": message.attempt,
        },
        scheduled_enqueue_time_utc=(
            utcnow() + timedelta(seconds=delay_seconds) if delay_seconds > 0 else None
        ),
    )


def _body_text(message: ServiceBusReceivedMessage) -> str:
    body: object = message.body
    if isinstance(body, bytes):
        return body.decode("utf-8")
    if isinstance(body, str):
        return body
    if isinstance(body, Iterable):
        return b"".join(bytes(section) for section in body).decode("utf-8")
    return str(body)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except (ServiceBusAuthenticationError, ServiceBusAuthorizationError) as err:
        raise AuthError(f"{what}: Service Bus refused the credentials") from err
    except (MessagingEntityNotFoundError, MessagingEntityDisabledError) as err:
        raise ConfigurationError(f"{what}: the queue is missing or disabled") from err
    except MessageSizeExceededError as err:
        raise PermanentError(f"{what}: the message is too large for the queue") from err
    except (MessageLockLostError, SessionLockLostError, MessageAlreadySettled) as err:
        raise NotFoundError(
            f"{what}: the lock expired or the message was settled; it is (or was) delivered again"
        ) from err
    except ServiceBusError as err:
        raise RetryableError(f"{what}: {type(err).__name__}") from err


@dataclass
class _Lease:
    """A receiver and how many of its messages are still unsettled."""

    receiver: ServiceBusReceiver
    close_when_settled: bool
    unsettled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards `unsettled`
    io: threading.Lock = field(default_factory=threading.Lock)  # one call at a time per link

    def settled(self) -> None:
        with self.lock:
            self.unsettled -= 1
            done = self.unsettled <= 0 and self.close_when_settled
        if done:
            self.receiver.close()


@dataclass(frozen=True)
class _Receipt:
    lease: _Lease
    message: ServiceBusReceivedMessage


class ServiceBusMessageQueue:
    """A MessageQueue on one Service Bus namespace.

    Args:
        client: the namespace client.
        sessions: the queues are session-enabled; the connection id is the session id.
        max_wait_time: seconds `receive` waits for a first message (or a free session).
        admin: the namespace's administration client, for `backlog` (its counts need the
            Manage right, or the Azure Service Bus Data Owner role).
    """

    def __init__(
        self,
        client: ServiceBusClient,
        *,
        sessions: bool = False,
        max_wait_time: float = 5.0,
        admin: ServiceBusAdministrationClient | None = None,
    ) -> None:
        self._client = client
        self._admin = admin
        self._sessions = sessions
        self._max_wait_time = max_wait_time
        self._lock = threading.Lock()
        self._senders: dict[str, tuple[ServiceBusSender, threading.Lock]] = {}
        self._receivers: dict[str, _Lease] = {}

    @classmethod
    def from_connection_string(
        cls, connection_string: str, *, sessions: bool = False
    ) -> ServiceBusMessageQueue:
        """From `ServiceBusConnection` (a connection string)."""
        return cls(
            ServiceBusClient.from_connection_string(connection_string),
            sessions=sessions,
            admin=ServiceBusAdministrationClient.from_connection_string(connection_string),
        )

    @classmethod
    def from_namespace(
        cls, fully_qualified_namespace: str, credential: TokenCredential, *, sessions: bool = False
    ) -> ServiceBusMessageQueue:
        """From `ServiceBusConnection__fullyQualifiedNamespace` and a managed identity."""
        return cls(
            ServiceBusClient(fully_qualified_namespace, credential),
            sessions=sessions,
            admin=ServiceBusAdministrationClient(fully_qualified_namespace, credential),
        )

    def close(self) -> None:
        with self._lock:
            senders = [sender for sender, _ in self._senders.values()]
            receivers = [lease.receiver for lease in self._receivers.values()]
            self._senders.clear()
            self._receivers.clear()
        for sender in senders:
            sender.close()
        for receiver in receivers:
            receiver.close()
        self._client.close()
        if self._admin is not None:
            self._admin.close()

    def ping(self) -> None:
        """Open a link to the inbound queue: checks the network, the credentials and the queue."""
        with _translated(f"queue {INBOUND_QUEUE}"), self._client.get_queue_sender(INBOUND_QUEUE):
            pass

    def send(self, queue: str, message: SyncMessage, *, delay_seconds: float = 0.0) -> None:
        outgoing = to_servicebus_message(
            message, sessions=self._sessions, delay_seconds=delay_seconds
        )
        sender, sender_lock = self._sender(queue)
        with _translated(f"send to {queue}"), sender_lock:
            sender.send_messages(outgoing)

    def receive(
        self, queue: str, *, max_messages: int = 16, visibility_timeout: float = 300.0
    ) -> Sequence[ReceivedMessage]:
        if max_messages < 1:
            raise ValueError("max_messages must be >= 1")
        lease = self._lease(queue)
        try:
            with _translated(f"receive from {queue}"), lease.io:
                batch = lease.receiver.receive_messages(
                    max_message_count=max_messages, max_wait_time=self._max_wait_time
                )
        except RetryableError as err:
            if self._sessions:
                lease.receiver.close()
                if isinstance(err.__cause__, OperationTimeoutError):
                    return []  # no session has a message waiting
            raise
        received: list[ReceivedMessage] = []
        for item in batch:
            message = self._parse(queue, lease, item)
            if message is None:
                continue
            with lease.lock:
                lease.unsettled += 1
            received.append(
                ReceivedMessage(
                    queue=queue,
                    message=message,
                    # The SDK counts earlier deliveries (0 the first time); the port counts
                    # this one too, like Storage queues' dequeue count.
                    dequeue_count=(item.delivery_count or 0) + 1,
                    receipt=_Receipt(lease, item),
                )
            )
        if not received and lease.close_when_settled:
            lease.receiver.close()
        return received

    def complete(self, received: ReceivedMessage) -> None:
        receipt = self._receipt(received)
        with _translated(f"complete on {received.queue}"), receipt.lease.io:
            receipt.lease.receiver.complete_message(receipt.message)
        receipt.lease.settled()

    def abandon(self, received: ReceivedMessage) -> None:
        receipt = self._receipt(received)
        with _translated(f"abandon on {received.queue}"), receipt.lease.io:
            receipt.lease.receiver.abandon_message(receipt.message)
        receipt.lease.settled()

    def backlog(self, queue: str) -> Backlog:
        """Active and scheduled messages from the queue's runtime properties; the oldest
        one's age from a peek (not on session queues, where a peek needs a session)."""
        if self._admin is None:
            raise ConfigurationError("backlog needs the Service Bus administration client")
        try:
            properties = self._admin.get_queue_runtime_properties(queue)
        except HttpResponseError as err:  # the administration API is plain HTTPS
            if err.status_code in (401, 403):
                raise AuthError(f"backlog of {queue}: the Manage right is required") from err
            raise RetryableError(f"backlog of {queue}: HTTP {err.status_code}") from err
        except AzureError as err:
            raise RetryableError(f"backlog of {queue}: {type(err).__name__}") from err
        depth = (properties.active_message_count or 0) + (properties.scheduled_message_count or 0)
        if self._sessions or depth == 0:
            return Backlog(depth=depth, oldest_age_seconds=None)
        with _translated(f"peek on {queue}"), self._client.get_queue_receiver(queue) as receiver:
            peeked = receiver.peek_messages(max_message_count=1)
        enqueued = peeked[0].enqueued_time_utc if peeked else None
        age = None if enqueued is None else max((utcnow() - enqueued).total_seconds(), 0.0)
        return Backlog(depth=depth, oldest_age_seconds=age)

    def _sender(self, queue: str) -> tuple[ServiceBusSender, threading.Lock]:
        with self._lock:
            found = self._senders.get(queue)
            if found is None:
                found = (self._client.get_queue_sender(queue), threading.Lock())
                self._senders[queue] = found
            return found

    def _lease(self, queue: str) -> _Lease:
        """The receiver for one receive call: shared per queue, or a fresh session receiver."""
        if self._sessions:
            receiver = self._client.get_queue_receiver(
                queue, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=self._max_wait_time
            )
            return _Lease(receiver, close_when_settled=True)
        with self._lock:
            lease = self._receivers.get(queue)
            if lease is None:
                receiver = self._client.get_queue_receiver(queue, max_wait_time=self._max_wait_time)
                lease = _Lease(receiver, close_when_settled=False)
                self._receivers[queue] = lease
            return lease

    def _parse(
        self, queue: str, lease: _Lease, item: ServiceBusReceivedMessage
    ) -> SyncMessage | None:
        try:
            return SyncMessage.from_json(_body_text(item))
        except (ValidationError, UnicodeDecodeError) as err:
            logger.error(
                "message %s on %s is not a SyncMessage; dead-lettering it", item.message_id, queue
            )
            with _translated(f"dead-letter on {queue}"), lease.io:
                lease.receiver.dead_letter_message(
                    item, reason="not a SyncMessage", error_description=type(err).__name__
                )
            return None

    @staticmethod
    def _receipt(received: ReceivedMessage) -> _Receipt:
        if not isinstance(received.receipt, _Receipt):
            raise TypeError("not a receipt from Service Bus")
        return received.receipt
