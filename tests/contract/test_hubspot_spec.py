"""HubSpot against HubSpot's own OpenAPI files: `prism mock --dynamic` answers every call
the adapter makes from the spec (so every request must be one the spec allows: a 2xx) and
its spec-shaped, generated answers must parse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import httpx
import pytest

from adapters.hubspot import HubSpotAdapter
from adapters.toolkit import CursorState
from integration_core.clock import utcnow
from integration_core.errors import LockstepError, PreconditionFailedError
from integration_core.ports import WriteRequest, WriteResult
from integration_core.sync.watermark import Watermark
from tests.harness.adapters import StaticBearer, hubspot_adapter, hubspot_task
from tests.harness.prism import Prism, provider_spec

pytestmark = pytest.mark.integration


class _Recorder(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[tuple[str, str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.statuses.append((request.method, request.url.path, response.status_code))
        return response


@pytest.fixture(scope="module", params=["contact", "company", "task"])
def mocked(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    spec = {
        "contact": "hubspot/contacts.json",
        "company": "hubspot/companies.json",
        "task": "hubspot/tasks.json",
    }
    with Prism(provider_spec(spec[request.param])) as prism:
        yield request.param, prism.base_url


@pytest.fixture
def recorder() -> _Recorder:
    return _Recorder()


@pytest.fixture
def make(mocked: tuple[str, str], recorder: _Recorder) -> Iterator[Callable[..., HubSpotAdapter]]:
    """Fresh adapters (the seeded mock answers a path alike every time, so one adapter
    reading on would rightly see its page token again and stop at a pagination loop)."""
    _, base_url = mocked
    with ExitStack() as stack:

        def build(**config: Any) -> HubSpotAdapter:
            adapter = hubspot_adapter(
                base_url, auth=StaticBearer("pat-mock"), transport=recorder, **config
            )
            return stack.enter_context(adapter)

        yield build


_VALUES = {
    "contact": {"email": "ada@example.com"},
    "company": {"name": "Acme"},
    "task": hubspot_task(1),
}


def _all_2xx(recorder: _Recorder) -> None:
    assert recorder.statuses
    assert all(200 <= status < 300 for _, _, status in recorder.statuses), recorder.statuses


def test_every_read_is_a_request_the_spec_allows_and_its_answer_parses(
    mocked: tuple[str, str], make: Callable[..., HubSpotAdapter], recorder: _Recorder
) -> None:
    entity_type, _ = mocked
    since = Watermark(utcnow() - timedelta(days=1), "")
    cursors = [
        None,  # a first sync: the list endpoint
        CursorState(full=True, page={"after": "page-2"}).encode(),  # its next page
        CursorState(watermark=since).encode(),  # a later cycle: search
        CursorState(watermark=since, since=since, page={"archived": True}).encode(),
    ]
    pages = [make().read_changes(entity_type, c, page_size=100) for c in cursors]
    record = make().read_record(entity_type, "512")
    if entity_type == "contact":
        make().health()  # it lists contacts: only in contacts.json
    _all_2xx(recorder)
    assert [m for m, _, _ in recorder.statuses][:5] == ["GET", "GET", "POST", "GET", "GET"]
    assert all(page.changes and not page.rejected for page in pages[:3])
    assert record is not None


def test_every_write_is_a_request_the_spec_allows_and_its_answer_parses(
    mocked: tuple[str, str], make: Callable[..., HubSpotAdapter], recorder: _Recorder
) -> None:
    entity_type, _ = mocked
    adapter = make(id_property="lockstep_id")
    values = _VALUES[entity_type]
    made = adapter.write(entity_type, None, values)  # plain create
    upserted = adapter.write(entity_type, None, values, idempotency_key="k-1")  # batch upsert
    updated = adapter.write(entity_type, made.external_id, values)  # PATCH
    with pytest.raises(PreconditionFailedError):
        # The mock's record has some other updatedAt: the compare refuses before writing.
        adapter.write(entity_type, made.external_id, values, expected_version="1970-01-01")
    adapter.delete(entity_type, made.external_id)
    _all_2xx(recorder)
    methods = [(m, p.rsplit("/", 1)[-1]) for m, p, _ in recorder.statuses]
    assert [m for m, _ in methods] == ["POST", "POST", "PATCH", "GET", "DELETE"]
    assert methods[1][1] == "upsert"
    assert made.external_id
    assert upserted.external_id
    assert updated.version


def test_the_link_id_lookup_is_a_search_the_spec_allows(
    mocked: tuple[str, str], make: Callable[..., HubSpotAdapter], recorder: _Recorder
) -> None:
    entity_type, _ = mocked
    adapter = make(link_property="lockstep_link")
    adapter.write(entity_type, None, _VALUES[entity_type], idempotency_key="k-2")
    _all_2xx(recorder)
    assert recorder.statuses[0][1].endswith("/search")


def test_every_batch_write_is_a_request_the_spec_allows_and_its_answer_parses(
    mocked: tuple[str, str], make: Callable[..., HubSpotAdapter], recorder: _Recorder
) -> None:
    entity_type, _ = mocked
    adapter = make(id_property="lockstep_id")
    values = _VALUES[entity_type]
    outcomes = adapter.write_batch(
        entity_type,
        [
            WriteRequest(None, values),  # batch/create
            WriteRequest(None, values, idempotency_key="k-3"),  # batch/upsert
            WriteRequest("512", values),  # batch/update
            WriteRequest("513", values, expected_version="1970-01-01"),  # batch/read first
        ],
    )
    _all_2xx(recorder)
    paths = [p.rsplit("/", 1)[-1] for _, p, _ in recorder.statuses]
    assert paths == ["read", "update", "upsert", "create"]
    # The mock's answers are generated: they name none of our inputs, so each input is
    # an error naming the batch, never a crash and never a result taken for another's.
    assert len(outcomes) == 4
    assert all(isinstance(o, WriteResult | LockstepError) for o in outcomes)


def test_a_cleared_property_is_sent_as_the_empty_string_the_spec_allows(
    mocked: tuple[str, str], make: Callable[..., HubSpotAdapter], recorder: _Recorder
) -> None:
    """HubSpot's property values are strings (no null); "" clears one."""
    entity_type, _ = mocked
    adapter = make(id_property="lockstep_id")
    cleared = {**_VALUES[entity_type], "phone": None}
    adapter.write(entity_type, None, cleared)  # create
    adapter.write(entity_type, "512", cleared)  # PATCH
    adapter.write(entity_type, None, cleared, idempotency_key="k-4")  # batch/upsert
    adapter.write_batch(entity_type, [WriteRequest("512", cleared)])  # batch/update
    _all_2xx(recorder)
    assert len(recorder.statuses) == 4
