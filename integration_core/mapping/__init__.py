"""The mapping layer: canonical models, mappings as data, and converters (pure, no I/O).

A provider record becomes canonical values through an `ObjectMapping` (provider paths ->
canonical fields, through named converters) and back for writes. Adapters register a
default mapping per entity type; a sync task may override it. A record that cannot be
mapped raises `MappingError` (a PermanentError naming record, field and path), which the
pipeline dead-letters.
"""

from __future__ import annotations

from integration_core.mapping.canonical import (
    CANONICAL_MODELS,
    TASK_STATUSES,
    CanonicalCompany,
    CanonicalContact,
    CanonicalTask,
    canonical_fields,
    validate_canonical,
)
from integration_core.mapping.converters import (
    CONVERTERS,
    ConversionContext,
    Converter,
    NoOptions,
    get_converter,
    register_converter,
)
from integration_core.mapping.defaults import default_mapping, register_default_mappings
from integration_core.mapping.errors import ConversionError, MappingError
from integration_core.mapping.paths import MISSING, FieldPath, parse_path
from integration_core.mapping.spec import (
    ConverterStep,
    FieldMapping,
    MappingOverride,
    ObjectMapping,
)

__all__ = [
    "CANONICAL_MODELS",
    "CONVERTERS",
    "MISSING",
    "TASK_STATUSES",
    "CanonicalCompany",
    "CanonicalContact",
    "CanonicalTask",
    "ConversionContext",
    "ConversionError",
    "Converter",
    "ConverterStep",
    "FieldMapping",
    "FieldPath",
    "MappingError",
    "MappingOverride",
    "NoOptions",
    "ObjectMapping",
    "canonical_fields",
    "default_mapping",
    "get_converter",
    "parse_path",
    "register_converter",
    "register_default_mappings",
    "validate_canonical",
]
