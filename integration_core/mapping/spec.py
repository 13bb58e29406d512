"""Mappings as data: which provider path fills which canonical field, through which
converters, and back for writes.

An `ObjectMapping` (one provider object <-> one canonical entity type) is a list of
`FieldMapping`s, validated when it is loaded (paths parse, converters exist, their options
fit, canonical fields exist), so a bad mapping fails when a task is configured, not on
the thousandth record. A value that cannot be converted raises `MappingError` naming the
record, the canonical field and the provider path; the pipeline dead-letters that record.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    model_validator,
)

from integration_core.mapping.canonical import CANONICAL_MODELS, validate_canonical
from integration_core.mapping.converters import ConversionContext, Converter, get_converter
from integration_core.mapping.errors import ConversionError, MappingError
from integration_core.mapping.paths import MISSING, FieldPath, parse_path

__all__ = ["ConverterStep", "FieldMapping", "MappingOverride", "ObjectMapping"]

Direction = Literal["both", "read", "write"]


def _brief(err: ValidationError) -> str:
    """A validation error in one line: where and what, without echoing the input."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'mapping'}: {e['msg']}" for e in err.errors()
    )


class _Strict(BaseModel):
    """Immutable: a changed mapping is a new one, whose compiled plans are built anew."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; with `update`, validated again like any new mapping."""
        if update:
            return self.model_validate({**self.model_dump(), **update})
        return super().model_copy(deep=deep)


class ConverterStep(_Strict):
    """One converter by name, with its options (`"trim"` is short for `{"name": "trim"}`)."""

    name: str
    options: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _known(self) -> ConverterStep:
        converter = get_converter(self.name)  # ValueError names the known ones
        try:
            converter.parse_options(self.options)
        except ValidationError as err:
            raise ValueError(f"converter {self.name!r}: bad options: {_brief(err)}") from err
        return self


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _steps(value: Any) -> Any:
    return [value] if isinstance(value, str | dict) else value


Names = Annotated[list[str], BeforeValidator(_one_or_many), Field(min_length=1)]


@dataclass(frozen=True)
class _Plan:
    """A field mapping compiled for the per-record path: plain objects, no model lookups."""

    canonical: tuple[str, ...]
    source: tuple[str, ...]
    paths: tuple[FieldPath, ...]
    steps: tuple[tuple[Converter[Any], Any], ...]
    reads: bool
    writes: bool
    # (provider key, canonical name) of a plain one-to-one copy: the common case, which
    # the per-record loops do inline.
    copy: tuple[str, str] | None = None

    def read(
        self, record: Mapping[str, Any], context: ConversionContext, record_id: str | None
    ) -> dict[str, Any]:
        """The canonical values taken from `record` (none if a path is absent)."""
        if len(self.paths) == 1:
            value = self.paths[0].get(record)
            if value is MISSING:
                return {}
        else:
            found = tuple(path.get(record) for path in self.paths)
            if any(item is MISSING for item in found):
                # Part of a joined value is no value: a partial record must not overwrite it.
                return {}
            value = None if all(item is None for item in found) else found
        if self.steps:
            value = self._run(value, context, record_id, reverse=False)
        if len(self.canonical) == 1:
            return {self.canonical[0]: value}
        parts = self._spread(value, len(self.canonical), record_id)
        return dict(zip(self.canonical, parts, strict=True))

    def write(
        self,
        values: Mapping[str, Any],
        out: dict[str, Any],
        context: ConversionContext,
        record_id: str | None,
    ) -> None:
        """Set the provider path(s) in `out` from canonical `values`."""
        if len(self.canonical) == 1:
            value = values.get(self.canonical[0])
        else:
            given = tuple(values.get(name) for name in self.canonical)
            value = None if all(item is None for item in given) else given
        if self.steps:
            value = self._run(value, context, record_id, reverse=True)
        parts = [value] if len(self.paths) == 1 else self._spread(value, len(self.paths), record_id)
        for path, part in zip(self.paths, parts, strict=True):
            try:
                path.set(out, part)
            except ValueError as err:
                raise self._error(str(err), record_id) from err

    def _run(
        self, value: Any, context: ConversionContext, record_id: str | None, *, reverse: bool
    ) -> Any:
        for converter, options in reversed(self.steps) if reverse else self.steps:
            if value is None and not converter.handles_none:
                continue
            convert = converter.to_provider if reverse else converter.to_canonical
            assert convert is not None  # one-way converters only in read mappings
            try:
                value = convert(value, options, context)
            except ConversionError as err:
                raise self._error(f"{converter.name}: {err}", record_id) from err
            except (ValueError, TypeError, ArithmeticError, LookupError) as err:
                # A converter registered elsewhere that fails its own way: still this
                # record's problem, dead-lettered with the reason, never the page's.
                reason = f"{converter.name}: {type(err).__name__}: {err}"
                raise self._error(reason, record_id) from err
        return value

    def _spread(self, value: Any, size: int, record_id: str | None) -> list[Any]:
        if value is None:
            return [None] * size
        if not isinstance(value, tuple | list):
            raise self._error(f"expected {size} values, got {type(value).__name__}", record_id)
        if len(value) > size:
            raise self._error(f"{len(value)} parts for {size} fields", record_id)
        return [*value, *([None] * (size - len(value)))]

    def _error(self, reason: str, record_id: str | None) -> MappingError:
        return MappingError(
            reason, record_id=record_id, field=",".join(self.canonical), path=",".join(self.source)
        )


class FieldMapping(_Strict):
    """Provider `source` path(s) <-> `canonical` field(s), through `convert` in order.

    One source and one canonical field is the usual case. Several sources need a `join`
    converter first (first and last name into one name); several canonical fields need a
    `split` converter last (one address line into street, city, ...). Writes run the
    converters' reverse in reverse order. `direction` limits a mapping to reads or writes.
    """

    source: Names
    canonical: Names
    convert: Annotated[list[ConverterStep], BeforeValidator(_steps)] = Field(default_factory=list)
    direction: Direction = "both"

    @model_validator(mode="after")
    def _consistent(self) -> FieldMapping:
        """Paths parse, and the converters' shapes fit the sources and fields."""
        paths = [parse_path(text) for text in self.source]
        converters = [get_converter(step.name) for step in self.convert]
        arities = [converter.arity for converter in converters]
        if len(paths) > 1 and len(self.canonical) > 1:
            raise ValueError("a mapping joins several sources or splits into several fields")
        if len(paths) > 1 and (not arities or arities[0] != "join"):
            raise ValueError(f"sources {self.source} need a 'join' converter first")
        if len(self.canonical) > 1 and (not arities or arities[-1] != "split"):
            raise ValueError(f"fields {self.canonical} need a 'split' converter last")
        if arities.count("join") + arities.count("split") > (
            len(paths) > 1 or len(self.canonical) > 1
        ):
            raise ValueError("a 'join' or 'split' converter needs several sources or fields")
        if self.direction != "read":
            unwritable = [path.text for path in paths if not path.writable]
            if unwritable:
                raise ValueError(f"paths {unwritable} would rewrite their filter: 'read' only")
            one_way = [converter.name for converter in converters if converter.to_provider is None]
            if one_way:
                raise ValueError(f"converters {one_way} only read: set direction 'read'")
        return self

    @cached_property
    def plan(self) -> _Plan:
        """This mapping compiled for the per-record path (plain objects, no model lookups)."""
        return _Plan(
            canonical=tuple(self.canonical),
            source=tuple(self.source),
            paths=tuple(parse_path(text) for text in self.source),
            steps=tuple(
                (converter, converter.parse_options(step.options))
                for step in self.convert
                for converter in (get_converter(step.name),)
            ),
            reads=self.reads,
            writes=self.writes,
            copy=self._copy(),
        )

    def _copy(self) -> tuple[str, str] | None:
        key = parse_path(self.source[0]).key
        if key is None or len(self.source) > 1 or len(self.canonical) > 1 or self.convert:
            return None
        return key, self.canonical[0]

    @property
    def reads(self) -> bool:
        return self.direction != "write"

    @property
    def writes(self) -> bool:
        return self.direction != "read"


class ObjectMapping(_Strict):
    """How one provider object maps onto one canonical entity type, both ways.

    `system` names the provider in errors (`register_default_mappings` sets it).
    `lookups` are tables the mapping carries itself (e.g. a picklist of owners a task
    override names); tables passed at call time win over them.
    """

    system: str | None = None
    entity_type: str
    provider_object: str = Field(min_length=1)
    fields: list[FieldMapping]
    lookups: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ObjectMapping:
        model = CANONICAL_MODELS.get(self.entity_type)
        if model is None:
            raise ValueError(
                f"unknown entity type {self.entity_type!r} (known: {sorted(CANONICAL_MODELS)})"
            )
        read: set[str] = set()
        written: set[str] = set()
        for mapping in self.fields:
            unknown = [name for name in mapping.canonical if name not in model.model_fields]
            if unknown:
                raise ValueError(f"not canonical {self.entity_type} fields: {unknown}")
            if mapping.reads:
                twice = read.intersection(mapping.canonical)
                if twice:
                    raise ValueError(f"canonical fields {sorted(twice)} are read twice")
                read.update(mapping.canonical)
            if mapping.writes:
                twice = written.intersection(mapping.source)
                if twice:
                    raise ValueError(f"provider paths {sorted(twice)} are written twice")
                written.update(mapping.source)
        return self

    @cached_property
    def plans(self) -> tuple[tuple[_Plan, ...], ConversionContext]:
        """The field plans and the context with this mapping's own lookups, compiled once."""
        return tuple(m.plan for m in self.fields), ConversionContext(lookups=self.lookups)

    @property
    def canonical_fields(self) -> frozenset[str]:
        """The canonical fields this mapping reads from the provider."""
        return frozenset(name for m in self.fields if m.reads for name in m.canonical)

    @property
    def written_fields(self) -> frozenset[str]:
        """The canonical fields this mapping writes to the provider."""
        return frozenset(name for m in self.fields if m.writes for name in m.canonical)

    def to_canonical(
        self,
        record: Mapping[str, Any],
        *,
        record_id: str | None = None,
        lookups: Mapping[str, Mapping[str, str]] | None = None,
    ) -> dict[str, Any]:
        """The record's canonical values, checked against the canonical model.

        Fields whose provider paths are absent stay absent; a present null clears.
        """
        plans, context = self.plans
        if lookups:
            context = ConversionContext(lookups={**context.lookups, **lookups})
        values: dict[str, Any] = {}
        try:
            for plan in plans:
                if not plan.reads:
                    continue
                if plan.copy is not None:
                    value = record.get(plan.copy[0], MISSING)
                    if value is not MISSING:
                        values[plan.copy[1]] = value
                else:
                    values.update(plan.read(record, context, record_id))
            return validate_canonical(self.entity_type, values, record_id=record_id)
        except MappingError as err:
            raise err.located(system=self.system, provider_object=self.provider_object) from err

    def to_provider(
        self,
        values: Mapping[str, Any],
        *,
        only: Collection[str] | None = None,
        record_id: str | None = None,
        lookups: Mapping[str, Mapping[str, str]] | None = None,
    ) -> dict[str, Any]:
        """The provider record for canonical `values` (None clears a field).

        With `only`, just the mappings that touch one of those canonical fields are
        written, each from the whole of `values`: a changed first name rewrites a joined
        full name from both parts, never from the first alone.
        """
        plans, context = self.plans
        if lookups:
            context = ConversionContext(lookups={**context.lookups, **lookups})
        out: dict[str, Any] = {}
        wanted = values if only is None else only
        try:
            for plan in plans:
                if not plan.writes:
                    continue
                if plan.copy is not None:
                    if plan.copy[1] in wanted:
                        out[plan.copy[0]] = values.get(plan.copy[1])
                elif any(name in wanted for name in plan.canonical):
                    plan.write(values, out, context, record_id)
        except MappingError as err:
            raise err.located(system=self.system, provider_object=self.provider_object) from err
        return out

    def read_as_base(self, values: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical `values` read from the provider, with each field that differs from
        `base` only because the provider cannot hold base's value taken from `base`.

        A lossy write (a task `in_progress` written to GitHub is an `open` issue, read back
        as `not_started`) is no change by the provider: `base` written and read back
        through this mapping gives exactly what was read. Fields whose write shape does not
        read back (Notion property values) are left as read.
        """
        kept = dict(values)
        for name in self.written_fields & self.canonical_fields:
            if name not in base or name not in values or values[name] == base[name]:
                continue
            try:
                back = self.to_canonical(self.to_provider(base, only=(name,)))
            except MappingError:
                continue
            if name in back and back[name] == values[name]:
                kept[name] = base[name]
        return kept

    def with_overrides(self, overrides: Mapping[str, Any]) -> ObjectMapping:
        """This mapping with a sync task's overrides; see `MappingOverride` for the rules."""
        try:
            override = MappingOverride.model_validate(dict(overrides))
        except ValidationError as err:
            raise MappingError(f"bad mapping override: {_brief(err)}") from err
        return override.apply(self)


class MappingOverride(_Strict):
    """A sync task's changes to the default mapping of its object. Merge rules:

    - `replace: true` starts from no field mappings at all; otherwise from the defaults.
    - `remove` drops the default mappings of those canonical fields (the field is then not
      synced for this task).
    - each mapping in `fields` replaces every default mapping that shares a canonical
      field or a provider path with it, and is added after the rest.
    - `lookups` are merged table by table (a table given here replaces the default's).
    - `provider_object` replaces the provider object (e.g. a custom object).
    The result is validated as a whole: a bad override fails with MappingError.
    """

    fields: list[FieldMapping] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    replace: bool = False
    lookups: dict[str, dict[str, str]] = Field(default_factory=dict)
    provider_object: str | None = None

    def apply(self, base: ObjectMapping) -> ObjectMapping:
        kept = [] if self.replace else list(base.fields)
        both = sorted({n for m in self.fields for n in m.canonical}.intersection(self.remove))
        if both:
            raise MappingError(f"fields {both} are both removed and mapped")
        for name in self.remove:
            if not any(name in m.canonical for m in base.fields):
                raise MappingError(f"cannot remove {name!r}: the default mapping has no such field")
        new_fields = {name for m in self.fields for name in m.canonical}
        new_paths = {path for m in self.fields for path in m.source}
        kept = [
            m
            for m in kept
            if not (set(m.canonical) & (new_fields | set(self.remove)) or set(m.source) & new_paths)
        ]
        try:
            return ObjectMapping(
                system=base.system,
                entity_type=base.entity_type,
                provider_object=self.provider_object or base.provider_object,
                fields=[*kept, *self.fields],
                lookups={**base.lookups, **self.lookups},
            )
        except ValidationError as err:
            raise MappingError(
                f"the mapping with these overrides is invalid: {_brief(err)}"
            ) from err
