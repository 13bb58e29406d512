"""Deterministic replays of what the pipeline property tests found (one test per bug)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.unit.pipelines.test_pipeline_properties as props
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE
from integration_core.pipelines.links import is_retired

pytestmark = pytest.mark.unit


def _world(strategy: str) -> Iterator[props.World]:
    world = props.World(strategy, ("alpha", "beta"))
    yield world
    world.close()


@pytest.fixture
def merge() -> Iterator[props.World]:
    yield from _world("field_merge")


@pytest.fixture
def lww() -> Iterator[props.World]:
    yield from _world("last_write_wins")


def _settle_and_check(world: props.World) -> None:
    world.settle_everything()
    world.check_converged()
    world.check_no_outage_deletes()


def test_archiving_a_record_we_created_is_a_delete_not_an_echo(merge: props.World) -> None:
    merge.create("alpha", tagged=False)
    merge.sync_round()
    merge.archive("beta", 0)  # beta's copy was created by our push: its values hash as ours
    merge.sync_round()
    assert merge.live("alpha") == []
    _settle_and_check(merge)


def test_idle_rereads_write_nothing_to_the_hub(merge: props.World) -> None:
    merge.create("alpha", tagged=True)
    merge.sync_round()
    merge.sync_round()
    etags = {d["id"]: d["_etag"] for d in merge.rt.store.query("links", partition_key="t1")}
    merge.sync_round()  # re-reads each task's last record (the watermark overlap)
    assert etags == {d["id"]: d["_etag"] for d in merge.rt.store.query("links", partition_key="t1")}


def test_a_late_delivery_of_a_record_gone_since_links_nothing(lww: props.World) -> None:
    lww.create("beta", tagged=False)
    lww.sync_round()
    lww.webhooks.clear()
    lww.note_webhook("beta", lww.live("beta")[0])  # its live state, delivered much later
    lww.archive("beta", 0)
    lww.edit("alpha", 0, "city")  # later than the delete: under LWW the record comes back
    lww.sync_round()
    lww.sync_round()
    lww.webhooks = lww.webhooks[:1]
    lww.deliver_webhooks("deliver", 1, 0)
    lww.sync_round()
    assert len(lww.live("beta")) == 1
    beta_links = [link for link in lww.links() if link.connection_id == "beta"]
    assert sum(not is_retired(link) for link in beta_links) == 1
    _settle_and_check(lww)


def test_a_crash_between_the_merge_and_its_pushes_loses_no_push(merge: props.World) -> None:
    merge.create("alpha", tagged=False)
    merge.sync_round()
    merge.edit("alpha", 0, "jobtitle")
    merge.tick()
    merge.tick()  # two pulls of alpha queued: the second reads what the first applied
    merge.queue.switch.arm(1)  # the first push send of the first pull fails
    merge.deliver(INBOUND_QUEUE, 1, 0)
    merge.drain()
    assert merge.live("beta")[0].properties["jobtitle"] == "jobtitle-1"
    _settle_and_check(merge)


def test_a_push_refused_as_stale_is_retried_after_the_merge(merge: props.World) -> None:
    merge.create("alpha", tagged=False)
    merge.sync_round()
    merge.edit("alpha", 0, "jobtitle")
    merge.tick()
    merge.deliver(INBOUND_QUEUE, 2, 0)  # both pulls
    merge.store.switch.arm(1)  # beta written, its link not: the link's version is stale
    merge.deliver(OUTBOUND_QUEUE, 1, 0)
    merge.edit("alpha", 0, "city")
    merge.tick()
    merge.deliver(INBOUND_QUEUE, 1, 0)  # alpha's pull only
    merge.deliver(OUTBOUND_QUEUE, 5, 0)  # both pushes to beta meet 412
    merge.drain()  # beta's pull changes nothing in the hub and asks for the same push
    merge.sync_round()
    assert merge.live("beta")[0].properties["city"] == "city-2"
    _settle_and_check(merge)


def test_a_late_create_delivered_after_its_tombstone_stays_deleted(merge: props.World) -> None:
    merge.create("alpha", tagged=False)
    merge.archive("alpha", 0)
    merge.tick()
    merge.deliver(INBOUND_QUEUE, 1, 0)  # the pull sees the tombstone first
    merge.webhooks = merge.webhooks[:1]  # then the create's webhook arrives
    merge.deliver_webhooks("deliver", 1, 0)
    merge.drain()
    assert merge.live("beta") == []
    _settle_and_check(merge)


def test_a_crash_after_a_twin_is_linked_loses_none_of_its_pushes(merge: props.World) -> None:
    """The same person entered in both systems: the second is linked to the first's entity
    (the link is written before the pushes, so a push to that system finds it). A crash
    right after the link write must not cost the first system the second one's values.
    """
    merge.create("alpha", tagged=False)
    twin = dict(merge.live("alpha")[0].properties, jobtitle="Director")  # entered later
    merge.note_webhook("beta", merge.accounts["beta"].create("contacts", twin))
    from_alpha, from_beta = merge.webhooks
    merge.webhooks = [from_alpha]
    merge.deliver_webhooks("deliver", 1, 0)
    merge.deliver(INBOUND_QUEUE, 1, 0)  # alpha's record becomes the entity
    merge.webhooks = [from_beta]
    merge.deliver_webhooks("deliver", 1, 0)
    # beta's title merged in, the title conflict field_merge resolved recorded, its link
    # written: crash
    merge.store.switch.arm(3, after=True)
    merge.deliver(INBOUND_QUEUE, 1, 0)
    assert merge.store.switch.fired == 1
    assert {link.connection_id for link in merge.links()} == {"alpha", "beta"}
    merge.drain()  # beta's webhook again: its change is applied already
    assert merge.live("alpha")[0].properties["jobtitle"] == "Director"
    _settle_and_check(merge)


def test_a_create_whose_answer_was_lost_is_brought_up_to_date(merge: props.World) -> None:
    """The provider made the record, we never learned it; meanwhile the entity changed. The
    retried create gets the first record back (same idempotency key): it must not be taken
    for the current state.
    """
    merge.create("alpha", tagged=False)
    merge.tick()
    merge.deliver(INBOUND_QUEUE, 10, 0)
    merge.store.switch.arm(2)  # the create's intent is written, beta's record made; the link dies
    merge.deliver(OUTBOUND_QUEUE, 1, 0)
    assert merge.store.switch.fired == 1
    assert len(merge.live("beta")) == 1
    merge.edit("alpha", 0, "jobtitle")
    merge.webhooks = merge.webhooks[-1:]
    merge.deliver_webhooks("deliver", 1, 0)
    merge.deliver(INBOUND_QUEUE, 1, 0)  # the edit reaches the hub before any pull of beta
    merge.queue_clock.advance(120)  # the failed push is visible again
    merge.deliver(OUTBOUND_QUEUE, 10, 0)
    assert len(merge.live("beta")) == 1
    assert merge.live("beta")[0].properties["jobtitle"] == "jobtitle-1"
    _settle_and_check(merge)


def test_a_record_deleted_in_one_system_comes_back_there_when_restored(
    lww: props.World,
) -> None:
    """Beta tags a person and deletes it; alpha later adds the same tag (a newer change:
    under last-write-wins the person comes back). Beta's delete reaches the hub first, so
    beta's link kept, as its base, exactly the values of the restored person: beta must get
    the record back, not be skipped as up to date.
    """
    lww.create("alpha", tagged=False)
    lww.sync_round()
    lww.tag("beta", 0, "vip", add=True)
    lww.archive("beta", 0)
    lww.tag("alpha", 0, "vip", add=True)  # later than the delete
    lww.tick()
    for received in lww.queue.receive(INBOUND_QUEUE, max_messages=2, visibility_timeout=60):
        if received.message.connection_id == "beta":
            lww.handle(received)  # the delete reaches the hub first
        else:
            lww.queue.abandon(received)
    lww.drain()
    assert len(lww.live("beta")) == 1
    _settle_and_check(lww)


def test_an_edit_made_while_a_crashed_pull_waits_is_kept() -> None:
    """The pull crashed right after creating the record's entity (no link yet) and comes
    back only after its lease expires; meanwhile a user edits the record. The redelivery
    finds the entity and must merge the edit into it, not take the entity as current.
    """
    world = props.World("field_merge", ("alpha", "beta"), retry_later=True)
    try:
        world.create("alpha", tagged=False)
        world.tick()
        world.store.switch.arm(1, after=True)  # the entity is written, then the crash
        world.deliver(INBOUND_QUEUE, 2, 0)
        assert world.store.switch.fired == 1
        world.edit("alpha", 0, "firstname")
        _settle_and_check(world)
        world.check_one_sided_changes_kept()
        assert world.live("beta")[0].properties["firstname"] == "firstname-1"
    finally:
        world.close()


def test_a_report_of_a_state_older_than_our_write_is_not_applied(merge: props.World) -> None:
    """A webhook of alpha's record as it was before we pushed beta's edit there arrives
    after the push: it must not take the edit back (it once did, through field_merge:
    the old first name looked like a change made in alpha since the base we wrote).
    """
    merge.create("alpha", tagged=False)
    merge.sync_round()
    merge.webhooks.clear()
    merge.note_webhook("alpha", merge.live("alpha")[0])  # alpha's record before the push
    stale = merge.webhooks.pop()
    merge.edit("beta", 0, "firstname")
    merge.sync_round()
    assert merge.live("alpha")[0].properties["firstname"] == "firstname-1"
    merge.webhooks = [stale]
    merge.deliver_webhooks("deliver", 1, 0)
    merge.drain()
    assert merge.hub_snapshot()["ada.lovelace@example.com"]["firstname"] == "firstname-1"
    _settle_and_check(merge)
    merge.check_one_sided_changes_kept()


def test_a_delete_whose_pushes_failed_is_pushed_after_its_link_was_retired() -> None:
    """alpha's delete reached the hub, then sending its pushes failed; before the message
    came back, an older push to alpha carried the deleted state there and retired alpha's
    link. The redelivery met a retired link ("late news") and beta kept the person.
    """
    world = props.World("field_merge", ("alpha", "beta"), retry_later=True)
    try:
        world.create("alpha", tagged=False)
        world.sync_round()
        world.edit("beta", 0, "city")
        world.tick()
        world.drain_queue(INBOUND_QUEUE)  # beta's edit: a push to alpha waits
        world.archive("alpha", 0)
        world.tick()
        world.queue.switch.arm(1)  # the delete's push to beta is never sent
        world.drain_queue(INBOUND_QUEUE)
        world.drain_queue(OUTBOUND_QUEUE)  # the waiting push deletes in alpha: link retired
        assert world.live("beta") != []
        _settle_and_check(world)
        assert world.live("beta") == []
    finally:
        world.close()


@pytest.mark.parametrize("nth", range(1, 7))  # a link and a result per push
def test_a_crash_between_the_pushes_of_a_batch_loses_and_duplicates_nothing(
    merge: props.World, nth: int
) -> None:
    """Three people edited in alpha: one page, one batch of three pushes to beta. The
    process dies at its `nth` store write (between two pushes' writes, or in one), then
    the batch and what it postponed are delivered again."""
    for _ in range(3):
        merge.create("alpha", tagged=False)
    merge.sync_round()
    for pick in range(3):
        merge.edit("alpha", pick, "city")
    merge.tick()
    merge.deliver(INBOUND_QUEUE, 1, 0)  # the pull: its page's pushes, one batch per target
    merge.store.switch.arm(nth)
    merge.drain_queue(OUTBOUND_QUEUE)
    assert merge.batches >= 1
    assert merge.store.switch.fired == 1
    _settle_and_check(merge)
