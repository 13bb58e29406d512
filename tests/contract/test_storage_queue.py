"""Storage-queue specifics beyond the shared contract: the wire format the Functions host
reads, poison handling of foreign bodies, and queue name prefixes."""

from __future__ import annotations

import base64
import json

import pytest
from azure.storage.queue import QueueServiceClient

from integration_core.messaging.storage_queue import (
    POISON_SUFFIX,
    StorageQueueMessageQueue,
    decode_body,
    encode_body,
)
from integration_core.models import MessageKind, SyncMessage

pytestmark = pytest.mark.integration

SENT = SyncMessage(
    message_id="m1",
    tenant_id="t1",
    connection_id="c1",
    kind=MessageKind.PUSH,
    correlation_id="corr",
    payload={"name": "Zoë"},
)


@pytest.fixture
def raw_service(storage_connection_string: str) -> QueueServiceClient:
    return QueueServiceClient.from_connection_string(storage_connection_string)


def test_body_on_the_wire_is_base64_json(
    storage_queue: StorageQueueMessageQueue, raw_service: QueueServiceClient
) -> None:
    storage_queue.send("sync-outbound", SENT)
    raw = raw_service.get_queue_client(storage_queue.physical_name("sync-outbound"))
    [peeked] = raw.peek_messages(max_messages=1)
    decoded = json.loads(base64.b64decode(peeked.content, validate=True))
    assert decoded["messageId"] == "m1"
    assert decoded["payload"] == {"name": "Zoë"}


def test_plain_json_bodies_are_accepted(
    storage_queue: StorageQueueMessageQueue, raw_service: QueueServiceClient
) -> None:
    """A producer using `messageEncoding: none` (plain text) is still understood."""
    storage_queue.ensure_queue("sync-inbound")
    raw = raw_service.get_queue_client(storage_queue.physical_name("sync-inbound"))
    raw.send_message(SENT.to_json())
    [got] = storage_queue.receive("sync-inbound")
    assert got.message == SENT


def test_a_foreign_body_goes_to_the_poison_queue(
    storage_queue: StorageQueueMessageQueue, raw_service: QueueServiceClient
) -> None:
    storage_queue.ensure_queue("sync-inbound")
    raw = raw_service.get_queue_client(storage_queue.physical_name("sync-inbound"))
    raw.send_message(base64.b64encode(b'{"not": "a sync message"}').decode())
    storage_queue.send("sync-inbound", SENT)
    [got] = storage_queue.receive("sync-inbound")
    assert got.message == SENT
    poison = raw_service.get_queue_client(
        storage_queue.physical_name("sync-inbound" + POISON_SUFFIX)
    )
    [moved] = poison.receive_messages(max_messages=1)
    assert json.loads(decode_body(moved.content)) == {"not": "a sync message"}
    storage_queue.complete(got)
    assert storage_queue.depth("sync-inbound") == 0


def test_prefix_isolates_queue_names(
    storage_queue: StorageQueueMessageQueue, storage_connection_string: str
) -> None:
    other = StorageQueueMessageQueue.from_connection_string(
        storage_connection_string, queue_prefix=storage_queue.physical_name("other-")
    )
    try:
        storage_queue.send("sync-inbound", SENT)
        assert list(other.receive("sync-inbound")) == []
        assert storage_queue.depth("sync-inbound") == 1
    finally:
        other.close()


def test_encode_decode_are_inverse() -> None:
    assert SyncMessage.from_json(decode_body(encode_body(SENT))) == SENT
