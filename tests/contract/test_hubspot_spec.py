"""HubSpot against HubSpot's own OpenAPI files: `prism mock --dynamic` answers every call
the adapter makes from the spec (so every request must be one the spec allows: a 2xx) and
its spec-shaped, generated answers must parse.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from adapters.hubspot import HubSpotAdapter
from adapters.toolkit import CursorState
from integration_core.errors import PreconditionFailedError
from integration_core.sync.watermark import Watermark
from tests.harness.adapters import StaticBearer, hubspot_adapter
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


@pytest.fixture(scope="module", params=["contact", "company"])
def mocked(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    spec = {"contact": "hubspot/contacts.json", "company": "hubspot/companies.json"}
    with Prism(provider_spec(spec[request.param])) as prism:
        yield request.param, prism.base_url


@pytest.fixture
def recorder() -> _Recorder:
    return _Recorder()


@pytest.fixture
def adapter(mocked: tuple[str, str], recorder: _Recorder) -> Iterator[HubSpotAdapter]:
    _, base_url = mocked
    with hubspot_adapter(
        base_url, auth=StaticBearer("pat-mock"), transport=recorder, id_property="lockstep_id"
    ) as built:
        yield built


def _all_2xx(recorder: _Recorder) -> None:
    assert recorder.statuses
    assert all(200 <= status < 300 for _, _, status in recorder.statuses), recorder.statuses


def test_every_read_is_a_request_the_spec_allows_and_its_answer_parses(
    mocked: tuple[str, str], adapter: HubSpotAdapter, recorder: _Recorder
) -> None:
    entity_type, _ = mocked
    first = adapter.read_changes(entity_type, None, page_size=100)  # list
    adapter.read_changes(entity_type, first.cursor, page_size=100)  # list, next page
    searching = CursorState(watermark=Watermark(first.changes[0].modified_at, ""))
    search = adapter.read_changes(entity_type, searching.encode(), page_size=100)
    archived = CursorState.decode(search.cursor)
    adapter.read_changes(
        entity_type,
        CursorState(
            watermark=archived.watermark, since=archived.since, page={"archived": True}
        ).encode(),
        page_size=100,
    )
    record = adapter.read_record(entity_type, "512")
    if entity_type == "contact":
        adapter.health()  # it lists contacts: only in contacts.json
    _all_2xx(recorder)
    assert [m for m, _, _ in recorder.statuses][:5] == ["GET", "GET", "POST", "GET", "GET"]
    assert first.changes
    assert not first.rejected
    assert record is not None


def test_every_write_is_a_request_the_spec_allows_and_its_answer_parses(
    mocked: tuple[str, str], adapter: HubSpotAdapter, recorder: _Recorder
) -> None:
    entity_type, _ = mocked
    values = {"email": "ada@example.com"} if entity_type == "contact" else {"name": "Acme"}
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
    mocked: tuple[str, str], recorder: _Recorder
) -> None:
    entity_type, base_url = mocked
    with hubspot_adapter(
        base_url, auth=StaticBearer("pat-mock"), transport=recorder, link_property="lockstep_link"
    ) as adapter:
        adapter.write(entity_type, None, {"name": "Acme"}, idempotency_key="k-2")
    _all_2xx(recorder)
    assert recorder.statuses[0][1].endswith("/search")
