"""The adapters' webhook parsers, through the module-level dispatcher `adapters.parse_webhook`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters import parse_webhook
from integration_core.errors import ConfigurationError, PermanentError
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit

# developers.hubspot.com/docs/faq/v1-request-validation: HubSpot's documented delivery.
HUBSPOT_DOCS_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)


def _hubspot(events: object) -> list[tuple[str, str, str]]:
    notices = parse_webhook("hubspot", headers={}, body=json.dumps(events).encode())
    return [(n.object_type, n.external_id, n.operation) for n in notices]


def test_hubspots_documented_delivery_is_one_thin_contact_notice() -> None:
    [notice] = parse_webhook("hubspot", headers={}, body=HUBSPOT_DOCS_BODY)
    assert (notice.object_type, notice.external_id, notice.operation) == (
        "contact",
        "123",
        "upsert",
    )
    assert notice.occurred_at == datetime(2019, 7, 26, 4, 0, tzinfo=UTC)
    assert notice.values is None  # thin: the record is read by id


def test_hubspot_deletions_merges_generic_subscriptions_and_other_objects() -> None:
    at = 1564113600000
    assert _hubspot(
        [
            {"subscriptionType": "company.deletion", "objectId": 7, "occurredAt": at},
            {"subscriptionType": "contact.privacyDeletion", "objectId": 8, "occurredAt": at},
            {
                "subscriptionType": "contact.merge",
                "objectId": 9,
                "primaryObjectId": 9,
                "mergedObjectIds": [10, 11],
                "occurredAt": at,
            },
            {"subscriptionType": "object.propertyChange", "objectTypeId": "0-2", "objectId": 12},
            {"subscriptionType": "deal.creation", "objectId": 13, "occurredAt": at},
            {"subscriptionType": "contact.associationChange", "fromObjectId": 1, "toObjectId": 2},
        ]
    ) == [
        ("company", "7", "delete"),
        ("contact", "8", "delete"),
        ("contact", "9", "upsert"),
        ("contact", "10", "delete"),
        ("contact", "11", "delete"),
        ("company", "12", "upsert"),
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "hubspot webhook: the body is not JSON"),
        (b'{"objectId": 1}', "not a JSON array of events"),
        (b'["x"]', "hubspot webhook event 0: not an object"),
        (b'[{"subscriptionType": "contact.creation"}]', "event 0: no record id"),
        (
            b'[{"subscriptionType": "contact.creation", "objectId": 1, "occurredAt": "soon"}]',
            "event 0: occurred at",
        ),
    ],
)
def test_a_hubspot_body_it_cannot_read_is_a_permanent_error_naming_the_event(
    body: bytes, problem: str
) -> None:
    with pytest.raises(PermanentError, match=problem):
        parse_webhook("hubspot", headers={}, body=body)


def test_the_sandbox_events_its_server_sends_parse_back() -> None:
    account = seeded_account("crm", contacts=2)
    first, second = account.records("contacts")
    account.update("contacts", second.id, {"city": "Oslo"})
    account.archive("contacts", first.id)
    events = [account.webhook_event("contacts", r.id) for r in (first, second)]
    body = json.dumps({"events": [*events, {"object": "deals", "id": "d1"}]}).encode()
    notices = parse_webhook("sandbox", headers={}, body=body)
    assert [(n.external_id, n.operation) for n in notices] == [
        (first.id, "delete"),
        (second.id, "upsert"),
    ]
    assert notices[1].occurred_at == account.records("contacts")[0].modified_at


def test_a_sandbox_event_with_an_unknown_action_is_refused() -> None:
    body = json.dumps({"events": [{"object": "contacts", "id": "x", "action": "moved"}]})
    with pytest.raises(PermanentError, match="event 0: unknown action 'moved'"):
        parse_webhook("sandbox", headers={}, body=body.encode())


def test_an_unknown_system_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="no adapter for system 'nope'"):
        parse_webhook("nope", headers={}, body=b"{}")
