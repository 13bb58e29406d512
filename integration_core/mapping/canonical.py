"""The canonical shape of each entity type the hub stores: contact, company, task.

Every field is optional (a provider may not have it) and JSON-typed as the hub stores it:
text is trimmed and an empty text is None, dates are ISO strings, money is a string with
its currency ("1250.00 EUR"). The contact field names are the ones the hub has stored
since the beginning, so existing entities and links stay valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from integration_core.mapping.errors import MappingError

__all__ = [
    "CANONICAL_MODELS",
    "CanonicalCompany",
    "CanonicalContact",
    "CanonicalTask",
    "TASK_STATUSES",
    "canonical_fields",
    "validate_canonical",
]


# Text is trimmed (the model's str_strip_whitespace); `validate_canonical` turns an
# all-blank text into None first, in one pass rather than one validator call per field.
Text = str | None
Labels = list[str]
TaskStatus = Literal["not_started", "in_progress", "waiting", "completed", "deferred"]
TASK_STATUSES: tuple[str, ...] = get_args(TaskStatus)


class _Canonical(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        coerce_numbers_to_str=True,
        validate_default=False,
    )


class _Address(_Canonical):
    """The structured postal address contacts and companies share."""

    street: Text = None
    street2: Text = None
    city: Text = None
    postal_code: Text = None
    region: Text = None
    country: Text = None


class CanonicalContact(_Address):
    """A person; `country` is best kept as its ISO 3166 alpha-2 code (`country_code`)."""

    first_name: Text = None
    last_name: Text = None
    email: Text = None
    phone: Text = None
    company: Text = None
    title: Text = None
    birth_date: date | None = None
    national_id: Text = None
    tags: Labels | None = None


class CanonicalCompany(_Address):
    """An organisation; `annual_revenue` is money text ("1250000.00 USD")."""

    name: Text = None
    domain: Text = None
    website: Text = None
    phone: Text = None
    industry: Text = None
    description: Text = None
    employees: int | None = None
    annual_revenue: Text = None
    tags: Labels | None = None


class CanonicalTask(_Canonical):
    """A to-do, linked to the contact or company it is about (`related_type`, `related_id`).

    `assignee` is the assignee's email (the one identity every system shares; a `lookup`
    converter turns a provider's user id into it and back).
    """

    title: Text = None
    description: Text = None
    status: TaskStatus | None = None
    assignee: Text = None
    due_date: date | None = None
    labels: Labels | None = None
    related_type: Literal["contact", "company"] | None = None
    related_id: Text = None


CANONICAL_MODELS: Mapping[str, type[_Canonical]] = {
    "contact": CanonicalContact,
    "company": CanonicalCompany,
    "task": CanonicalTask,
}


def canonical_fields(entity_type: str) -> tuple[str, ...]:
    """The canonical field names of an entity type (ValueError for an unknown type)."""
    try:
        return tuple(CANONICAL_MODELS[entity_type].model_fields)
    except KeyError as err:
        raise ValueError(
            f"unknown entity type {entity_type!r} (known: {sorted(CANONICAL_MODELS)})"
        ) from err


def validate_canonical(
    entity_type: str, values: Mapping[str, Any], *, record_id: str | None = None
) -> dict[str, Any]:
    """`values` checked against the canonical model, as the hub stores them (JSON types).

    Only the fields given come back (absent stays absent; None clears a field). A value
    of the wrong type raises MappingError naming the record and the field.
    """
    model = CANONICAL_MODELS[entity_type]
    blanked = {
        name: None if isinstance(value, str) and not value.strip() else value
        for name, value in values.items()
    }
    try:
        checked = model.model_validate(blanked)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise MappingError(first["msg"], record_id=record_id, field=field) from err
    return checked.model_dump(mode="json", exclude_unset=True)
