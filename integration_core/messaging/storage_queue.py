"""MessageQueue on Azure Storage queues (Azure, or Azurite locally).

Bodies are the SyncMessage JSON, base64-encoded as the Functions host's queue trigger
expects by default (`messageEncoding: base64`). A body that is not a SyncMessage cannot be
handled by anyone: `receive` moves it to `<queue>-poison`, as the host does after too many
failed attempts, instead of blocking the queue.
"""

from __future__ import annotations

import base64
import logging
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient
from pydantic import ValidationError

from integration_core._storage_account import translated as _translated
from integration_core.clock import utcnow
from integration_core.errors import NotFoundError
from integration_core.messaging.base import Backlog, ReceivedMessage
from integration_core.models import SyncMessage

__all__ = ["POISON_SUFFIX", "StorageQueueMessageQueue", "encode_body", "decode_body"]

logger = logging.getLogger(__name__)

POISON_SUFFIX = "-poison"
_MAX_BATCH = 32  # the service's limit per receive call
_MAX_SECONDS = 7 * 24 * 3600


def encode_body(message: SyncMessage) -> str:
    """The queue body for `message`: base64 of its UTF-8 JSON (TextBase64EncodePolicy)."""
    return base64.b64encode(message.to_json().encode("utf-8")).decode("ascii")


def decode_body(content: str) -> str:
    """The text inside a queue body; plain (not base64) text is accepted as it is."""
    try:
        return base64.b64decode(content, validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), or not UTF-8 inside
        return content


def _seconds(value: float, *, minimum: int) -> int:
    """Storage queues count whole seconds: round up, within the service's range."""
    if value < 0:
        raise ValueError("times must be >= 0 seconds")
    return min(max(math.ceil(value), minimum), _MAX_SECONDS)


class StorageQueueMessageQueue:
    """A MessageQueue on one storage account.

    Args:
        service: the account's queue service client.
        queue_prefix: prepended to every queue name (isolates test runs that share one
            Azurite); the Functions bindings must use the same names.
    """

    def __init__(self, service: QueueServiceClient, *, queue_prefix: str = "") -> None:
        self._service = service
        self._prefix = queue_prefix
        self._clients: dict[str, QueueClient] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_connection_string(
        cls, connection_string: str, *, queue_prefix: str = ""
    ) -> StorageQueueMessageQueue:
        """From `AzureWebJobsStorage` (a connection string, e.g. Azurite's)."""
        service = QueueServiceClient.from_connection_string(connection_string)
        return cls(service, queue_prefix=queue_prefix)

    @classmethod
    def from_account_url(
        cls, account_url: str, credential: TokenCredential, *, queue_prefix: str = ""
    ) -> StorageQueueMessageQueue:
        """From `AzureWebJobsStorage__queueServiceUri` and a managed identity."""
        return cls(
            QueueServiceClient(account_url, credential=credential), queue_prefix=queue_prefix
        )

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()
        self._service.close()

    def physical_name(self, queue: str) -> str:
        """The name of `queue` in the storage account (with the prefix)."""
        return self._prefix + queue

    def ping(self) -> None:
        with _translated("queue service"):
            self._service.get_service_properties()

    def ensure_queue(self, queue: str) -> QueueClient:
        """The client for `queue`, creating the queue on first use (idempotent)."""
        with self._lock:
            client = self._clients.get(queue)
        if client is not None:
            return client
        name = self.physical_name(queue)
        client = self._service.get_queue_client(name)
        with _translated(f"queue {name}"):
            try:
                client.create_queue()
                logger.info("created storage queue %s", name)
            except ResourceExistsError:
                pass
        with self._lock:
            return self._clients.setdefault(queue, client)

    def send(self, queue: str, message: SyncMessage, *, delay_seconds: float = 0.0) -> None:
        client = self.ensure_queue(queue)
        visibility = _seconds(delay_seconds, minimum=0) if delay_seconds else None
        with _translated(f"send to {client.queue_name}"):
            client.send_message(encode_body(message), visibility_timeout=visibility)

    def receive(
        self, queue: str, *, max_messages: int = 16, visibility_timeout: float = 300.0
    ) -> Sequence[ReceivedMessage]:
        if max_messages < 1:
            raise ValueError("max_messages must be >= 1")
        client = self.ensure_queue(queue)
        received: list[ReceivedMessage] = []
        with _translated(f"receive from {client.queue_name}"):
            raw = client.receive_messages(
                messages_per_page=min(max_messages, _MAX_BATCH),
                max_messages=max_messages,
                visibility_timeout=_seconds(visibility_timeout, minimum=1),
            )
            for item in raw:
                message = self._parse(queue, item)
                if message is not None:
                    received.append(
                        ReceivedMessage(
                            queue=queue,
                            message=message,
                            dequeue_count=item.dequeue_count or 1,
                            receipt=item,
                        )
                    )
        return received

    def complete(self, received: ReceivedMessage) -> None:
        client = self.ensure_queue(received.queue)
        item = self._item(received)
        with _translated(f"complete on {client.queue_name}"), self._lease(received):
            client.delete_message(item.id, item.pop_receipt)

    def abandon(self, received: ReceivedMessage) -> None:
        client = self.ensure_queue(received.queue)
        item = self._item(received)
        with _translated(f"abandon on {client.queue_name}"), self._lease(received):
            client.update_message(item.id, item.pop_receipt, visibility_timeout=0)

    def depth(self, queue: str) -> int:
        """Approximate number of messages in `queue`, visible or not."""
        client = self.ensure_queue(queue)
        with _translated(f"properties of {client.queue_name}"):
            return client.get_queue_properties().approximate_message_count or 0

    def backlog(self, queue: str) -> Backlog:
        """The approximate count, and the oldest visible message's age (a peek: messages
        leased or delayed are not seen by it)."""
        client = self.ensure_queue(queue)
        with _translated(f"backlog of {client.queue_name}"):
            depth = client.get_queue_properties().approximate_message_count or 0
            peeked = client.peek_messages(max_messages=1)
        inserted = peeked[0].inserted_on if peeked else None
        age = None if inserted is None else max((utcnow() - inserted).total_seconds(), 0.0)
        return Backlog(depth=depth, oldest_age_seconds=age)

    def delete_queue(self, queue: str) -> None:
        """Delete `queue` and its messages (test and tool clean-up)."""
        with self._lock:
            client = self._clients.pop(queue, None)
        client = client or self._service.get_queue_client(self.physical_name(queue))
        with _translated(f"delete {client.queue_name}"), suppress(ResourceNotFoundError):
            client.delete_queue()

    def _parse(self, queue: str, item: QueueMessage) -> SyncMessage | None:
        content: Any = item.content
        text = decode_body(content) if isinstance(content, str) else ""
        try:
            return SyncMessage.from_json(text)
        except ValidationError as err:
            poison = self.ensure_queue(queue + POISON_SUFFIX)
            logger.error(
                "message %s on %s is not a SyncMessage (%d problems); moved to %s",
                item.id,
                queue,
                err.error_count(),
                poison.queue_name,
            )
            poison.send_message(content if isinstance(content, str) else "")
            self.ensure_queue(queue).delete_message(item.id, item.pop_receipt)
            return None

    @staticmethod
    def _item(received: ReceivedMessage) -> QueueMessage:
        if not isinstance(received.receipt, QueueMessage):
            raise TypeError("not a receipt from a storage queue")
        return received.receipt

    @staticmethod
    @contextmanager
    def _lease(received: ReceivedMessage) -> Iterator[None]:
        """A lost lease (expired and taken again, or already settled) is NotFoundError."""
        try:
            yield
        except ResourceNotFoundError as err:
            raise _lease_lost(received) from err
        except HttpResponseError as err:
            if getattr(err, "error_code", None) == "PopReceiptMismatch":
                raise _lease_lost(received) from err
            raise


def _lease_lost(received: ReceivedMessage) -> NotFoundError:
    return NotFoundError(
        f"message {received.message.message_id} on {received.queue}: the lease expired or was"
        " settled; the message is (or was) delivered again"
    )
