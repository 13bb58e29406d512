"""Push messages: batches bounded by count and by the queue's message size, the single
format read as a batch of one, and a malformed batch refused with a clear reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from integration_core.errors import PermanentError
from integration_core.messaging.storage_queue import encode_body
from integration_core.models import MessageKind, SyncMessage
from integration_core.pipelines.pushes import PUSHES, batched, push_items, safety_net

pytestmark = pytest.mark.unit

STORAGE_QUEUE_LIMIT = 64 * 1024


def _single(n: int, *, target: str = "erp", generation: str = "") -> SyncMessage:
    return SyncMessage(
        message_id=f"push-{n}",
        tenant_id="t1",
        connection_id=target,
        kind=MessageKind.PUSH,
        correlation_id="page-1",
        payload={"entity_id": f"e{n}", "entity_type": "contact", "generation": generation},
    )


def test_a_page_of_pushes_is_one_message_per_target_of_at_most_100() -> None:
    singles = [_single(n) for n in range(250)] + [_single(n, target="crm") for n in range(300, 303)]
    messages = batched([*singles, singles[7]])  # one push twice: carried once
    sizes = {
        target: [len(push_items(m)) for m in messages if m.connection_id == target]
        for target in ("erp", "crm")
    }
    assert sizes == {"erp": [100, 100, 50], "crm": [3]}
    ids = [item.push_id for m in messages for item in push_items(m)]
    assert sorted(ids) == sorted(m.message_id for m in singles)  # each push keeps its id
    # Deterministic: a page applied again sends the same batches (duplicates by their id).
    assert [m.message_id for m in batched(singles)] == [m.message_id for m in messages]


def test_a_batch_never_outgrows_a_storage_queue_message() -> None:
    big = [_single(n, generation="g" * 380) for n in range(100)]
    messages = batched(big)
    assert len(messages) > 1
    assert all(len(encode_body(m)) < STORAGE_QUEUE_LIMIT for m in messages)
    assert sum(len(push_items(m)) for m in messages) == 100


def test_a_lone_push_stays_in_the_single_format_and_its_stand_in_carries_its_id() -> None:
    (alone,) = batched([_single(1)])
    assert alone == _single(1)
    stand_in = safety_net(alone)
    assert stand_in.message_id != alone.message_id  # Service Bus would drop a same-id send
    assert [item.push_id for item in push_items(stand_in)] == [alone.message_id]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({PUSHES: []}, PermanentError),
        ({PUSHES: "nope"}, PermanentError),
        ({PUSHES: [{"pushId": "p"}] * 101}, PermanentError),
        ({PUSHES: [{"pushId": "p"}]}, ValidationError),  # no entity
        ({PUSHES: [{"pushId": "p", "entityId": "e", "extra": 1}]}, ValidationError),
        ({}, PermanentError),
    ],
)
def test_a_malformed_push_message_is_refused_with_its_reason(
    payload: dict[str, object], error: type[Exception]
) -> None:
    message = _single(1).model_copy(update={"payload": payload})
    with pytest.raises(error):
        push_items(message)
