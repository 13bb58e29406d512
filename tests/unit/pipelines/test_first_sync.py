"""A first sync of two systems that already hold the same people (issue 11, section 1).

Both sandbox systems are seeded with identical records and connected two-way to one
tenant; the real pipelines run on the embedded stack. Whatever the order the workers take
the messages in, whatever single fault a provider answers with and wherever the process
crashes (a crashed message comes back only after the ones behind it, as it does once its
lease expires), the end state is one record per person in each system, one live entity
per person, and no entity linked to two records of one system. How: pipelines/links.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import tests.unit.pipelines.test_pipeline_properties as props
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE

pytestmark = pytest.mark.unit

PEOPLE = 20


def _seeded(people: int = PEOPLE) -> props.World:
    world = props.World("field_merge", ("alpha", "beta"), retry_later=True)
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


def _only_pull_of(world: props.World, system: str) -> None:
    """Of the pulls the scheduler queued, `system`'s runs; the other comes back later."""
    world.tick()
    _only_from(world, system)


def _only_from(world: props.World, system: str) -> None:
    """Of the inbound messages waiting, `system`'s are handled; the others come back later."""
    for received in world.queue.receive(INBOUND_QUEUE, max_messages=9, visibility_timeout=60):
        if received.message.connection_id == system:
            world.handle(received)
        else:
            world.queue.abandon(received)


def _copy_with_its_answer_lost(world: props.World) -> None:
    """Alpha's pull and its push run first; the create in beta makes the copy, then times
    out: the hub does not know the copy is its own yet.
    """
    _only_pull_of(world, "alpha")
    world.accounts["beta"].time_out(after=True)
    world.deliver(OUTBOUND_QUEUE, 1, 0)
    assert len(world.live("beta")) == 2


def test_reads_first(world: props.World) -> None:
    world.sync_round()
    _assert_one_of_each(world)


def test_outbound_worked_between_the_two_pulls(world: props.World) -> None:
    world.tick()
    world.deliver(INBOUND_QUEUE, 1, 0)  # one system's pull ...
    world.drain_queue(OUTBOUND_QUEUE)  # ... its pushes (creates in the other) ...
    world.drain()  # ... then the other's pull reads its own originals and our copies
    _assert_one_of_each(world)


FAULTS: dict[str, Callable[[props._Account], None]] = {
    "503": lambda account: account.inject_fault(503),
    "429 with Retry-After: 1": lambda account: account.inject_fault(429, retry_after=1.0),
    "a timeout": lambda account: account.time_out(after=False),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_the_first_call_of_one_system_fails(world: props.World, fault: str) -> None:
    FAULTS[fault](world.accounts["alpha"])
    world.sync_round()  # alpha's pull comes again after beta's, and after beta's pushes
    _assert_one_of_each(world)


def test_a_webhook_of_the_original_after_our_copy(world: props.World) -> None:
    """Beta's pull and pushes run first; alpha's originals arrive one by one, as webhooks."""
    _only_pull_of(world, "beta")  # alpha's pull comes again much later
    world.drain_queue(OUTBOUND_QUEUE)
    for record in world.live("alpha"):
        world.note_webhook("alpha", record)
    world.deliver_webhooks("deliver", 2 * PEOPLE, 0)
    world.drain()
    _assert_one_of_each(world)


def test_the_original_gets_the_values_the_hub_kept_over_it() -> None:
    """Both edited the person before the first sync, beta later. Beta's pull and its push
    (a copy in alpha, with beta's values) come first; alpha's original then meets the hub
    with no common base and loses the field: the original must be brought up to date,
    though the same state was pushed to alpha once already (to the copy, now withdrawn).
    """
    world = _seeded(1)
    try:
        world.edit("alpha", 0, "jobtitle")
        world.edit("beta", 0, "jobtitle")
        _only_pull_of(world, "beta")
        world.drain_queue(OUTBOUND_QUEUE)
        world.drain()
        _assert_one_of_each(world, 1)
        assert world.live("alpha")[0].properties["jobtitle"] == "jobtitle-2"
    finally:
        world.close()


CRASH_PEOPLE = 3


def _reads_first(world: props.World) -> None:
    world.sync_round()


def _pushes_between_pulls(world: props.World) -> None:
    world.tick()
    world.deliver(INBOUND_QUEUE, 1, 0)
    world.drain_queue(OUTBOUND_QUEUE)
    world.drain()


ORDERINGS = {"reads first": _reads_first, "pushes between the pulls": _pushes_between_pulls}


def _crash_points(first_sync: Callable[[props.World], None]) -> tuple[int, int]:
    """How many store writes and queue sends a first sync of CRASH_PEOPLE people makes."""
    world = _seeded(CRASH_PEOPLE)
    try:
        first_sync(world)
        return world.store.switch.seen, world.queue.switch.seen
    finally:
        world.close()


def _survives(first_sync: Callable[[props.World], None], port: str, nth: int, after: bool) -> str:
    """'' if the first sync, crashed there, converges; else what went wrong."""
    world = _seeded(CRASH_PEOPLE)
    try:
        crashing = world.store if port == "store" else world.queue
        crashing.switch.arm(nth, after=after)
        first_sync(world)
        _assert_one_of_each(world, CRASH_PEOPLE)
    except AssertionError as err:
        return str(err).splitlines()[0]
    finally:
        world.close()
    return ""


@pytest.mark.parametrize("ordering", list(ORDERINGS))
def test_a_crash_at_any_write_or_send_of_a_first_sync(ordering: str) -> None:
    """Every store write and queue send, crashed before and after it takes effect."""
    first_sync = ORDERINGS[ordering]
    writes, sends = _crash_points(first_sync)
    assert writes > 20, "the sweep covers a real first sync"
    assert sends > 5
    failures = {
        f"{port} #{nth} {'after' if after else 'before'}": failed
        for port, count in (("store", writes), ("queue", sends))
        for nth in range(1, count + 1)
        for after in (False, True)
        if (failed := _survives(first_sync, port, nth, after))
    }
    assert not failures, f"{len(failures)} of {2 * (writes + sends)} crash points: {failures}"


def test_an_edit_of_our_copy_reaches_the_systems_own_record() -> None:
    """Beta's first pull times out, so alpha's person reaches beta first as a copy, and a
    user tags that copy. Beta's pull then reads its own record (older) before the copy:
    the own record is linked and the copy withdrawn, and the copy's tag, merged into the
    hub, must reach the own record too (it is beta's, but not the record it came from).
    """
    world = _seeded(1)
    try:
        world.accounts["beta"].time_out(after=False)
        world.sync_round()  # beta's pull comes back only once its lease expires
        (copy,) = (link for link in world.links() if link.connection_id == "beta")
        assert copy.created_by_push
        world.tag("beta", [r.id for r in world.live("beta")].index(copy.external_id), "vip", True)
        _assert_one_of_each(world, 1)
        assert world.live("beta")[0].properties["tags"] == ["vip"]
    finally:
        world.close()


def test_our_copy_read_before_its_create_is_answered_does_not_undo_an_edit() -> None:
    """A user edits beta's own record; alpha's pull and its push run first, and the push's
    create in beta times out after making the copy. Beta's pull then reads its edited
    record, then the copy (newer, holding what the hub sent): the copy is no news, and
    must not win over the edit by its later time.
    """
    world = _seeded(1)
    try:
        world.edit("beta", 0, "jobtitle")
        _copy_with_its_answer_lost(world)
        _assert_one_of_each(world, 1)
        assert world.live("alpha")[0].properties["jobtitle"] == "jobtitle-1"
    finally:
        world.close()


def test_an_edit_of_our_copy_read_before_its_create_is_answered_reaches_the_own_record() -> None:
    """As above, but a user tags the copy before beta's pull reads it (after beta's own
    record): the tag is merged in from a record the hub does not know yet as ours, beside
    beta's own. Once the replayed create answers that the copy is ours, it is withdrawn,
    and beta's own record must have the tag.
    """
    world = _seeded(1)
    try:
        _copy_with_its_answer_lost(world)
        copy = max(world.live("beta"), key=lambda record: record.id)
        world.tag("beta", [r.id for r in world.live("beta")].index(copy.id), "vip", True)
        world.drain_queue(INBOUND_QUEUE)  # beta's own record, then the tagged copy
        _assert_one_of_each(world, 1)
        assert world.live("beta")[0].properties["tags"] == ["vip"]
    finally:
        world.close()


def test_a_copy_keeps_what_its_first_create_sent_through_replays() -> None:
    """Alpha's title changes after its pull and before its push makes the copy (so the
    copy is newer, with the old title); the new title's push replays the create, and that
    answer is lost too. Beta's pull then reads the copy: it holds what the first request
    sent, not what the replay sent, and must not win over the newer title by its time.
    """
    world = _seeded(1)
    try:
        _only_pull_of(world, "alpha")
        world.edit("alpha", 0, "jobtitle")
        world.accounts["beta"].time_out(after=True)
        world.deliver(OUTBOUND_QUEUE, 1, 0)  # the copy, with the old title
        world.deliver_webhooks("deliver", 1, 0)  # the edit reaches the hub
        _only_from(world, "alpha")
        world.accounts["beta"].time_out(after=False)
        world.deliver(OUTBOUND_QUEUE, 1, 0)  # the new title's push replays the create
        world.drain_queue(INBOUND_QUEUE)  # beta's pull: its own record, then the copy
        _assert_one_of_each(world, 1)
        assert world.live("beta")[0].properties["jobtitle"] == "jobtitle-1"
    finally:
        world.close()
