"""Field mappings between a provider's record shape and the canonical shape."""

from __future__ import annotations

from integration_core.mapping.fields import CANONICAL_FIELDS, FieldMap, MappingError

__all__ = ["CANONICAL_FIELDS", "FieldMap", "MappingError"]
