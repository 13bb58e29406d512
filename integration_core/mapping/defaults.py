"""Default mappings per system and entity type, which adapters provide; a sync task
uses its system's default with the task's overrides (`ObjectMapping.with_overrides`).

Adapters register their defaults when their module is imported
(`register_default_mappings("hubspot", [...])`); the registry is plain data, so the admin
API can show and check a task's mapping without building an adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from integration_core.mapping.errors import MappingError
from integration_core.mapping.spec import ObjectMapping

__all__ = ["default_mapping", "register_default_mappings"]

_DEFAULTS: dict[tuple[str, str], ObjectMapping] = {}


def register_default_mappings(
    system: str, mappings: Iterable[ObjectMapping | Mapping[str, Any]]
) -> dict[str, ObjectMapping]:
    """Register `system`'s default mappings (models or their JSON form), one per entity
    type, each naming `system` in its errors; returns them by entity type. Registering an
    entity type twice is an error."""
    registered: dict[str, ObjectMapping] = {}
    for raw in mappings:
        data = raw.model_dump() if isinstance(raw, ObjectMapping) else dict(raw)
        mapping = ObjectMapping.model_validate({**data, "system": system})
        key = (system, mapping.entity_type)
        if key in _DEFAULTS or mapping.entity_type in registered:
            raise ValueError(f"{system} already has a default {mapping.entity_type} mapping")
        registered[mapping.entity_type] = mapping
    for entity_type, mapping in registered.items():
        _DEFAULTS[(system, entity_type)] = mapping
    return registered


def default_mapping(system: str, entity_type: str) -> ObjectMapping:
    """The registered default; MappingError if `system` has none for `entity_type`."""
    try:
        return _DEFAULTS[(system, entity_type)]
    except KeyError as err:
        raise MappingError(f"{system} has no {entity_type!r} objects") from err
