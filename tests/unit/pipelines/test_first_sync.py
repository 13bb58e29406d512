"""A first sync of two systems that already hold the same people (issue 11, section 1).

Both sandbox systems are seeded with identical records and connected two-way to one
tenant; the real pipelines run on the embedded stack. Whatever the order the workers take
the messages in, whatever single fault a provider answers with and wherever the process
crashes, the end state is one record per person in each system, one live entity per
person, and no entity linked to two records of one system.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import tests.unit.pipelines.test_pipeline_properties as props
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE

pytestmark = pytest.mark.unit

PEOPLE = 20


def _seeded(people: int = PEOPLE) -> props.World:
    world = props.World("field_merge", ("alpha", "beta"))
    for _ in range(people):
        world.create_everywhere()
    world.webhooks.clear()  # the first sync reads them: nothing is delivered by webhook
    return world


@pytest.fixture
def world() -> Iterator[props.World]:
    seeded = _seeded()
    yield seeded
    seeded.close()


def _assert_one_of_each(world: props.World, people: int = PEOPLE) -> None:
    world.settle_everything()
    for name in world.systems:
        assert len(world.live(name)) == people, f"{name} holds {len(world.live(name))} records"
    assert len(world.live_entities()) == people
    world.check_converged()  # also: no entity linked to two records of one system
    world.check_no_outage_deletes()


def test_reads_first(world: props.World) -> None:
    world.sync_round()
    _assert_one_of_each(world)


def test_outbound_worked_between_the_two_pulls(world: props.World) -> None:
    world.tick()
    world.deliver(INBOUND_QUEUE, 1, 0)  # one system's pull ...
    world.drain_queue(OUTBOUND_QUEUE)  # ... its pushes (creates in the other) ...
    world.drain()  # ... then the other's pull reads its own originals and our copies
    _assert_one_of_each(world)


@pytest.mark.parametrize(("status", "retry_after"), [(503, None), (429, 1.0)])
def test_the_first_call_of_one_system_fails(
    world: props.World, status: int, retry_after: float | None
) -> None:
    world.accounts["alpha"].inject_fault(status, retry_after=retry_after)
    world.sync_round()  # alpha's pull comes again after beta's, and after beta's pushes
    _assert_one_of_each(world)


def test_a_webhook_of_the_original_after_our_copy(world: props.World) -> None:
    """Beta's pull and pushes run first; alpha's originals arrive one by one, as webhooks."""
    world.tick()
    for received in world.queue.receive(INBOUND_QUEUE, max_messages=2, visibility_timeout=60):
        if received.message.connection_id == "beta":
            world.handle(received)
        else:
            world.queue.abandon(received)  # alpha's pull comes again much later
    world.drain_queue(OUTBOUND_QUEUE)
    for record in world.live("alpha"):
        world.note_webhook("alpha", record)
    world.deliver_webhooks("deliver", 2 * PEOPLE, 0)
    world.drain()
    _assert_one_of_each(world)


CRASH_PEOPLE = 3


def _crash_points() -> tuple[int, int]:
    """How many store writes and queue sends a first sync of CRASH_PEOPLE people makes."""
    world = _seeded(CRASH_PEOPLE)
    try:
        world.sync_round()
        return world.store.switch.seen, world.queue.switch.seen
    finally:
        world.close()


def _first_sync_survives(arm: Callable[[props.World], None]) -> str | None:
    world = _seeded(CRASH_PEOPLE)
    try:
        arm(world)
        world.sync_round()
        _assert_one_of_each(world, CRASH_PEOPLE)
    except AssertionError as err:
        return str(err).splitlines()[0]
    finally:
        world.close()
    return None


def test_a_crash_at_any_write_or_send_of_a_first_sync() -> None:
    """Every store write and queue send, crashed before and after it takes effect."""
    writes, sends = _crash_points()
    assert writes > 20, "the sweep covers a real first sync"
    assert sends > 5
    failures = {}
    for port, count in (("store", writes), ("queue", sends)):
        for nth in range(1, count + 1):
            for after in (False, True):

                def arm(world: props.World, port: str = port, nth: int = nth, after: bool = after):
                    crashing = world.store if port == "store" else world.queue
                    crashing.switch.arm(nth, after=after)

                failed = _first_sync_survives(arm)
                if failed is not None:
                    failures[f"{port} #{nth} {'after' if after else 'before'}"] = failed
    assert not failures, f"{len(failures)} of {2 * (writes + sends)} crash points: {failures}"
