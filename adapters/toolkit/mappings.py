"""Default mappings for providers whose properties copy canonical fields one to one, and
which provider fields a mapping reads."""

from __future__ import annotations

from collections.abc import Mapping

from integration_core.mapping import ObjectMapping, parse_path, register_default_mappings

__all__ = ["register_copies", "source_fields"]


def register_copies(
    system: str, objects: Mapping[tuple[str, str], Mapping[str, str]]
) -> dict[str, ObjectMapping]:
    """Register `system`'s default mappings from `{(entity type, provider object):
    {canonical field: provider property}}`, each field a plain copy both ways."""
    return register_default_mappings(
        system,
        [
            {
                "entity_type": entity_type,
                "provider_object": provider_object,
                "fields": [{"source": path, "canonical": name} for name, path in fields.items()],
            }
            for (entity_type, provider_object), fields in objects.items()
        ],
    )


def source_fields(mapping: ObjectMapping) -> list[str]:
    """The provider fields a listing asks for: those the mapping's source paths start from."""
    return sorted(
        {parse_path(source).steps[0].key or source for f in mapping.fields for source in f.source}
    )
