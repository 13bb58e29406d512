"""Declarative field maps: canonical name <-> provider name, with value normalization.

Pure: no I/O. A value that cannot be converted raises MappingError (a PermanentError), so
the pipeline dead-letters that one record with the reason and carries on with the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from integration_core.errors import PermanentError

__all__ = ["CANONICAL_FIELDS", "FieldMap", "MappingError"]

CANONICAL_FIELDS: Mapping[str, tuple[str, ...]] = {
    "contact": (
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "title",
        "street",
        "street2",
        "city",
        "postal_code",
        "region",
        "country",
        "birth_date",
        "national_id",
        "tags",
    ),
    "company": ("name", "domain", "phone", "street", "city", "postal_code", "region", "country"),
}
_LIST_FIELDS = frozenset({"tags"})


class MappingError(PermanentError):
    """A provider record that cannot be expressed in the canonical shape."""


def _canonical_value(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in _LIST_FIELDS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise MappingError(f"field {field!r} must be a list of strings")
        return list(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MappingError(f"field {field!r} must be text, got {type(value).__name__}")
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class FieldMap:
    """How one provider's object type maps onto one canonical entity type."""

    entity_type: str
    provider_object: str
    fields: Mapping[str, str]  # canonical field -> provider field

    def __post_init__(self) -> None:
        known = CANONICAL_FIELDS.get(self.entity_type)
        if known is None:
            raise ValueError(f"unknown entity type {self.entity_type!r}")
        unknown = set(self.fields) - set(known)
        if unknown:
            raise ValueError(f"not canonical {self.entity_type} fields: {sorted(unknown)}")

    def to_canonical(self, provider_values: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical values for the provider fields present (absent stays absent)."""
        return {
            canonical: _canonical_value(canonical, provider_values[provider])
            for canonical, provider in self.fields.items()
            if provider in provider_values
        }

    def to_provider(self, canonical_values: Mapping[str, Any]) -> dict[str, Any]:
        return {
            provider: canonical_values[canonical]
            for canonical, provider in self.fields.items()
            if canonical in canonical_values
        }
