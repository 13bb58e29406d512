"""Mappings as data: loading and checking them, reading and writing records, overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from integration_core.errors import PermanentError
from integration_core.mapping import (
    CONVERTERS,
    MappingError,
    ObjectMapping,
    canonical_fields,
    default_mapping,
    register_default_mappings,
)
from tests.harness.prism import provider_spec

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]

CONTACT: dict[str, Any] = {
    "entity_type": "contact",
    "provider_object": "people",
    "fields": [
        {"source": "name.given", "canonical": "first_name", "convert": "trim"},
        {"source": "name.family", "canonical": "last_name"},
        {"source": "emails[type=work].value", "canonical": "email", "convert": "email"},
        {
            "source": "phone",
            "canonical": "phone",
            "convert": [{"name": "null_if"}, {"name": "phone_e164", "options": {"region": "GB"}}],
        },
        {
            "source": "address",
            "canonical": ["street", "city", "postal_code"],
            "convert": {"name": "address_lines", "options": {"separator": ", "}},
        },
        {"source": "labels", "canonical": "tags", "convert": "split"},
        {
            "source": "owner",
            "canonical": "company",
            "convert": {"name": "constant", "options": {"value": "Acme"}},
            "direction": "read",
        },
    ],
}
RECORD: dict[str, Any] = {
    "name": {"given": "  Ada ", "family": "Lovelace"},
    "emails": [
        {"type": "home", "value": "a@home.example"},
        {"type": "work", "value": "Ada@Work.Example"},
    ],
    "phone": "020 7946 0018",
    "address": "12 St James's Sq, London, SW1Y 4JH",
    "labels": "vip;speaker",
}


def test_a_mapping_loads_from_json_and_reads_a_record() -> None:
    mapping = ObjectMapping.model_validate(json.loads(json.dumps(CONTACT)))
    assert mapping.to_canonical(RECORD, record_id="p1") == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "Ada@work.example",
        "phone": "+442079460018",
        "street": "12 St James's Sq",
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "tags": ["vip", "speaker"],
    }
    assert mapping.canonical_fields - mapping.written_fields == {"company"}


def test_absent_stays_absent_and_a_present_null_clears() -> None:
    mapping = ObjectMapping.model_validate(CONTACT)
    assert mapping.to_canonical({"name": {"family": None}, "phone": "n/a", "owner": None}) == {
        "last_name": None,
        "phone": None,
        "company": "Acme",
    }


def test_the_canonical_model_normalises_what_converters_leave() -> None:
    mapping = ObjectMapping.model_validate(
        {
            "entity_type": "company",
            "provider_object": "orgs",
            "fields": [
                {"source": "n", "canonical": "name"},
                {"source": "emp", "canonical": "employees"},
                {"source": "zip", "canonical": "postal_code"},
                {"source": "city", "canonical": "city"},
            ],
        }
    )
    values = mapping.to_canonical({"n": "  Acme  ", "emp": "250", "zip": 10115, "city": "  "})
    assert values == {"name": "Acme", "employees": 250, "postal_code": "10115", "city": None}


def test_a_value_of_the_wrong_type_names_the_record_and_the_field() -> None:
    mapping = ObjectMapping.model_validate(CONTACT)
    with pytest.raises(MappingError) as caught:
        mapping.to_canonical({"name": {"family": {"not": "text"}}}, record_id="p7")
    assert (caught.value.record_id, caught.value.field) == ("p7", "last_name")
    assert "record 'p7', field 'last_name'" in str(caught.value)
    assert isinstance(caught.value, PermanentError)  # the pipeline dead-letters it


def test_a_value_that_does_not_convert_names_object_record_field_path_and_reason() -> None:
    mapping = ObjectMapping.model_validate(CONTACT)
    with pytest.raises(MappingError) as caught:
        mapping.to_canonical({**RECORD, "phone": "call me"}, record_id="p8")
    error = caught.value
    assert (error.record_id, error.field, error.path) == ("p8", "phone", "phone")
    assert str(error).startswith(
        "people record 'p8', field 'phone', path 'phone': phone_e164: not a phone"
    )


def test_writes_build_the_provider_record_and_read_back_the_same() -> None:
    mapping = ObjectMapping.model_validate(CONTACT)
    canonical = mapping.to_canonical(RECORD)
    written = mapping.to_provider(canonical)
    assert written == {
        "name": {"given": "Ada", "family": "Lovelace"},
        "emails": [{"type": "work", "value": "Ada@work.example"}],
        "phone": "+442079460018",
        "address": "12 St James's Sq, London, SW1Y 4JH",
        "labels": "vip;speaker",
    }
    assert mapping.to_canonical(written) == canonical


def test_a_write_of_one_changed_part_rebuilds_the_joined_field_whole() -> None:
    mapping = ObjectMapping.model_validate(CONTACT)
    current = {"street": "1 Main St", "city": "Leeds", "postal_code": "LS1", "last_name": "L"}
    assert mapping.to_provider(current, only={"city"}) == {"address": "1 Main St, Leeds, LS1"}
    assert mapping.to_provider({"city": None}, only={"city"}) == {"address": None}


def test_lookups_turn_a_user_id_into_an_email_and_back() -> None:
    mapping = ObjectMapping.model_validate(
        {
            "entity_type": "task",
            "provider_object": "tasks",
            "fields": [
                {
                    "source": "owner",
                    "canonical": "assignee",
                    "convert": {"name": "lookup", "options": {"table": "users"}},
                }
            ],
            "lookups": {"users": {"1": "carried@example.com"}},
        }
    )
    assert mapping.to_canonical({"owner": "1"}) == {"assignee": "carried@example.com"}
    users = {"users": {"7": "ada@example.com"}}
    assert mapping.to_canonical({"owner": "7"}, lookups=users) == {"assignee": "ada@example.com"}
    assert mapping.to_provider({"assignee": "ada@example.com"}, lookups=users) == {"owner": "7"}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"entity_type": "lead"}, "unknown entity type 'lead'"),
        ({"fields": [{"source": "x", "canonical": "nickname"}]}, "not canonical contact fields"),
        (
            {"fields": [{"source": "x", "canonical": "email", "convert": "emial"}]},
            "unknown converter",
        ),
        (
            {
                "fields": [
                    {
                        "source": "x",
                        "canonical": "phone",
                        "convert": {"name": "phone_e164", "options": {"regoin": "GB"}},
                    }
                ]
            },
            "regoin",
        ),
        ({"fields": [{"source": "x..y", "canonical": "email"}]}, "bad segment"),
        (
            {"fields": [{"source": ["a", "b"], "canonical": "email"}]},
            "need a 'join' converter first",
        ),
        (
            {"fields": [{"source": "a", "canonical": ["city", "region"]}]},
            "need a 'split' converter last",
        ),
        (
            {"fields": [{"source": "a", "canonical": "city", "convert": "name_split"}]},
            "needs several",
        ),
        (
            {
                "fields": [
                    {"source": "a", "canonical": "city"},
                    {"source": "b", "canonical": "city"},
                ]
            },
            "read twice",
        ),
        (
            {
                "fields": [
                    {"source": "a", "canonical": "city"},
                    {"source": "a", "canonical": "region"},
                ]
            },
            "written twice",
        ),
        (
            {"fields": [{"source": "e[type=work]", "canonical": "email"}]},
            "would rewrite their filter",
        ),
        ({"fields": [], "extra": 1}, "extra"),
    ],
)
def test_a_bad_mapping_is_refused_when_loaded(change: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        ObjectMapping.model_validate({**CONTACT, **change})


def test_overrides_replace_remove_and_add_by_the_documented_rules() -> None:
    base = ObjectMapping.model_validate(CONTACT)
    task = base.with_overrides(
        {
            "fields": [
                {
                    "source": "contact.fullname",
                    "canonical": ["first_name", "last_name"],
                    "convert": "name_split",
                },
                {
                    "source": "labels",
                    "canonical": "tags",
                    "convert": {"name": "split", "options": {"separator": ","}},
                },
            ],
            "remove": ["phone"],
            "lookups": {"users": {"1": "a@example.com"}},
        }
    )
    record = {**RECORD, "contact": {"fullname": "Grace Brewster Hopper"}, "labels": "a,b"}
    assert task.to_canonical(record) == {
        "email": "Ada@work.example",
        "street": "12 St James's Sq",
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "first_name": "Grace Brewster",
        "last_name": "Hopper",
        "tags": ["a", "b"],
    }
    assert task.lookups == {"users": {"1": "a@example.com"}}
    assert base.to_canonical(RECORD)["first_name"] == "Ada"  # the default is untouched
    only_new = base.with_overrides(
        {"replace": True, "fields": [{"source": "mail", "canonical": "email"}]}
    )
    assert only_new.to_canonical(RECORD | {"mail": "x@y.example"}) == {"email": "x@y.example"}


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"remove": ["birth_date"]}, "cannot remove 'birth_date'"),
        ({"fields": [{"source": "x", "canonical": "shoe_size"}]}, "not canonical contact fields"),
        ({"fields": [{"source": "x", "canonical": "city"}], "remove": ["city"]}, "both removed"),
        ({"feilds": []}, "bad mapping override"),
    ],
)
def test_a_bad_override_is_a_mapping_error(overrides: dict[str, Any], says: str) -> None:
    with pytest.raises(MappingError, match=says):
        ObjectMapping.model_validate(CONTACT).with_overrides(overrides)


def test_default_mappings_are_registered_once_per_system_and_type() -> None:
    mappings = register_default_mappings("test-registry", [CONTACT])
    assert default_mapping("test-registry", "contact") is mappings["contact"]
    assert mappings["contact"].system == "test-registry"  # named in its errors
    with pytest.raises(ValueError, match="already has a default contact mapping"):
        register_default_mappings("test-registry", [CONTACT])
    with pytest.raises(MappingError, match="test-registry has no 'task' objects"):
        default_mapping("test-registry", "task")


def test_the_sandbox_registers_its_defaults() -> None:
    from adapters.sandbox import SandboxAdapter

    for entity_type in ("contact", "company", "task"):
        mapping = SandboxAdapter.field_map(entity_type)
        assert mapping is default_mapping("sandbox", entity_type)
        assert mapping.canonical_fields <= set(canonical_fields(entity_type))
    with pytest.raises(PermanentError, match="sandbox has no 'deal' objects"):
        SandboxAdapter.field_map("deal")


# HubSpot-shaped records, as HubSpot's own OpenAPI description gives them: the default
# mappings the HubSpot adapter registers have this shape (properties are all text).
def _hubspot_examples() -> dict[str, Any]:
    spec = provider_spec("hubspot/contacts.json")
    return dict(json.loads(spec.read_text())["components"]["schemas"])


HUBSPOT_EXAMPLE_MAPPING: dict[str, Any] = {
    "entity_type": "contact",
    "provider_object": "contacts",
    "fields": [
        {"source": "properties.property_string", "canonical": "title"},
        {
            "source": "properties.property_number",
            "canonical": "national_id",
            "convert": {"name": "integer", "options": {"as_string": True}},
        },
        {
            "source": "properties.property_date",
            "canonical": "birth_date",
            "convert": {"name": "epoch_ms_date", "options": {"as_string": True}},
        },
        {
            "source": "properties.property_dropdown",
            "canonical": "company",
            "convert": {
                "name": "enum",
                "options": {"values": {"choice_a": "Acme", "choice_b": "Globex"}},
            },
        },
        {
            "source": "properties.property_multiple_checkboxes",
            "canonical": "tags",
            "convert": "split",
        },
        {"source": "properties.property_radio", "canonical": "region"},
    ],
}


def test_a_hubspot_record_from_the_official_example_maps_both_ways() -> None:
    schemas = _hubspot_examples()
    read = schemas["SimplePublicObject"]["example"]
    write = schemas["SimplePublicObjectInput"]["example"]
    mapping = ObjectMapping.model_validate(HUBSPOT_EXAMPLE_MAPPING)
    canonical = mapping.to_canonical(read, record_id=read["id"])
    assert canonical == {
        "title": "value",
        "national_id": "17",
        "birth_date": "2019-10-31",
        "company": "Globex",
        "tags": ["chocolate", "strawberry"],
        "region": "option_1",
    }
    # Back out, the request body is the spec's own input example (for the mapped properties).
    body = mapping.to_provider(canonical)
    wanted = {k: v for k, v in write["properties"].items() if k != "property_checkbox"}
    assert body == {"properties": wanted}


def test_a_copy_with_changes_is_checked_and_compiled_anew() -> None:
    mapping = ObjectMapping.model_validate(CONTACT)
    assert mapping.to_canonical(RECORD)["first_name"] == "Ada"
    renamed = mapping.model_copy(
        update={"fields": [{"source": "name.family", "canonical": "first_name"}]}
    )
    assert renamed.to_canonical(RECORD) == {"first_name": "Lovelace"}
    with pytest.raises(ValueError, match="not canonical contact fields"):
        mapping.model_copy(update={"fields": [{"source": "x", "canonical": "shoe_size"}]})


def test_the_readme_example_override_applies_to_sandbox_contacts() -> None:
    import adapters.sandbox  # noqa: F401  (registers the sandbox defaults)

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Mappings") :]
    example = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    listed = section.split("## ", 2)[1]
    assert [name for name in CONVERTERS if f"`{name}`" not in listed] == []
    mapping = default_mapping("sandbox", "contact").with_overrides(example)
    record = {"emails": [{"type": "work", "value": "Ada@example.com"}], "fullname": "Ada Lovelace"}
    values = mapping.to_canonical({**record, "country": "United Kingdom", "tags": ["x"]})
    assert values == {
        "email": "Ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "country": "GB",
    }
    assert mapping.to_provider(values) == {**record, "country": "United Kingdom"}


# A HubSpot task as the tasks API describes it (properties, and the contact it is
# associated with): https://developers.hubspot.com/docs/api/crm/tasks
HUBSPOT_TASK: dict[str, Any] = {
    "id": "9001",
    "properties": {
        "hs_timestamp": "2019-10-30T03:30:17.883Z",
        "hs_task_body": "<p>Send <b>Proposal</b></p>",
        "hubspot_owner_id": "64492917",
        "hs_task_subject": "Follow-up for Brian Buyer",
        "hs_task_status": "WAITING",
        "hs_task_priority": "HIGH",
    },
    "associations": {"contacts": {"results": [{"id": "101", "type": "task_to_contact"}]}},
    "archived": False,
}
HUBSPOT_TASK_MAPPING: dict[str, Any] = {
    "system": "hubspot",
    "entity_type": "task",
    "provider_object": "tasks",
    "fields": [
        {"source": "properties.hs_task_subject", "canonical": "title"},
        {
            "source": "properties.hs_task_body",
            "canonical": "description",
            "convert": "html_to_text",
        },
        {
            "source": "properties.hs_task_status",
            "canonical": "status",
            "convert": {
                "name": "enum",
                "options": {
                    "values": {
                        "NOT_STARTED": "not_started",
                        "IN_PROGRESS": "in_progress",
                        "WAITING": "waiting",
                        "COMPLETED": "completed",
                        "DEFERRED": "deferred",
                    }
                },
            },
        },
        {
            "source": "properties.hubspot_owner_id",
            "canonical": "assignee",
            "convert": {"name": "lookup", "options": {"table": "owners"}},
        },
        {
            "source": "properties.hs_timestamp",
            "canonical": "due_date",
            "convert": "date_from_datetime",
        },
        {
            "source": "properties.hs_task_priority",
            "canonical": "labels",
            "convert": {
                "name": "multi_picklist",
                "options": {"values": {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}},
            },
        },
        # Associations are written through their own endpoint: read-only here.
        {
            "source": "associations.contacts.results[0].id",
            "canonical": "related_id",
            "direction": "read",
        },
        {
            "source": "associations.contacts.results[0].id",
            "canonical": "related_type",
            "convert": {"name": "constant", "options": {"value": "contact"}},
            "direction": "read",
        },
    ],
}
OWNERS = {"owners": {"64492917": "ada@example.com"}}


def test_a_hubspot_task_maps_to_the_canonical_task_and_back() -> None:
    mapping = ObjectMapping.model_validate(HUBSPOT_TASK_MAPPING)
    canonical = mapping.to_canonical(HUBSPOT_TASK, record_id="9001", lookups=OWNERS)
    assert canonical == {
        "title": "Follow-up for Brian Buyer",
        "description": "Send Proposal",
        "status": "waiting",
        "assignee": "ada@example.com",
        "due_date": "2019-10-30",
        "labels": ["high"],
        "related_id": "101",
        "related_type": "contact",
    }
    assert mapping.to_provider(canonical, lookups=OWNERS) == {
        "properties": {
            "hs_task_subject": "Follow-up for Brian Buyer",
            "hs_task_body": "<p>Send Proposal</p>",
            "hs_task_status": "WAITING",
            "hubspot_owner_id": "64492917",
            "hs_timestamp": "2019-10-30T00:00:00.000000Z",
            "hs_task_priority": "HIGH",
        }
    }


def test_an_unknown_task_status_names_provider_object_record_field_path_and_choices() -> None:
    mapping = ObjectMapping.model_validate(HUBSPOT_TASK_MAPPING)
    record = {**HUBSPOT_TASK, "properties": {"hs_task_status": "SNOOZED"}}
    with pytest.raises(MappingError) as caught:
        mapping.to_canonical(record, record_id="9001", lookups=OWNERS)
    assert str(caught.value) == (
        "hubspot tasks record '9001', field 'status', path 'properties.hs_task_status': "
        "enum: unknown value "
        "'SNOOZED' (known: COMPLETED, DEFERRED, IN_PROGRESS, NOT_STARTED, WAITING)"
    )


def test_a_third_party_converter_failing_its_own_way_is_still_a_mapping_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from integration_core.mapping import NoOptions, register_converter
    from integration_core.mapping.converters import registry

    # Registered for this test only.
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_converter("test_fragile", options=NoOptions, to_provider=lambda v, _o, _c: v)
    def _fragile(value: Any, options: NoOptions, _: Any) -> Any:
        """Divides by the value: breaks on zero, as a careless converter would."""
        return 1 / value

    mapping = ObjectMapping.model_validate(
        {
            "entity_type": "company",
            "provider_object": "orgs",
            "fields": [{"source": "n", "canonical": "employees", "convert": "test_fragile"}],
        }
    )
    with pytest.raises(MappingError, match="test_fragile: ZeroDivisionError"):
        mapping.to_canonical({"n": 0}, record_id="o1")
    with pytest.raises(ValueError, match="already registered"):
        register_converter("test_fragile", options=NoOptions)(_fragile)


TRACKER: dict[str, Any] = {
    "entity_type": "task",
    "provider_object": "issues",
    "fields": [
        {"source": "title", "canonical": "title"},
        {
            "source": "state",
            "canonical": "status",
            "convert": {
                "name": "enum",
                "options": {
                    "values": {"open": "not_started", "closed": "completed"},
                    "write": {"not_started": "open", "in_progress": "open", "completed": "closed"},
                },
            },
        },
    ],
}


def test_a_value_the_provider_cannot_hold_reads_back_as_the_base_not_as_a_change() -> None:
    mapping = ObjectMapping.model_validate(TRACKER)
    base = {"title": "Ship", "status": "in_progress"}
    # Written as an open issue, read back as not started: the provider changed nothing.
    read = mapping.to_canonical(mapping.to_provider(base))
    assert read == {"title": "Ship", "status": "not_started"}
    assert mapping.read_as_base(read, base) == base
    # A real change on the provider's side (closed; a new title) is kept as read.
    changed = {"title": "Ship it", "status": "completed"}
    assert mapping.read_as_base(changed, base) == changed
    # A base the mapping cannot write (an unknown status) leaves the value as read.
    assert mapping.read_as_base(read, {**base, "status": "waiting"}) == read
