"""A sync task's `matching` options as validated data: thresholds and its own rules.

Stored as JSON on the task, e.g.
`{"auto_link_threshold": 0.9, "extra_rules": [{"fields": "employee_id",
"comparator": "exact", "weight": 20, "penalty": 10}]}`. `rules` replaces the entity type's
default rules, `extra_rules` adds to them. Candidates are still found by the entity type's
blocking keys (stored with each entity), so a rule can only re-score those candidates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from integration_core.dedup.compare import COMPARATORS
from integration_core.dedup.defaults import PROFILES
from integration_core.dedup.matcher import Matcher
from integration_core.dedup.rules import NORMALIZERS, Rule
from integration_core.errors import ConfigurationError

__all__ = ["RuleData", "MatchingOptions", "describe_errors"]


def describe_errors(err: ValidationError) -> str:
    """'where: what' for each problem; pydantic's own text repeats the input."""
    return "; ".join(
        ".".join(str(part) for part in error["loc"]) + ": " + error["msg"] for error in err.errors()
    )


class RuleData(BaseModel):
    """One matching rule as data: compare `fields`, weigh the similarity (see `Rule`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    fields: tuple[str, ...] = Field(min_length=1)
    comparator: str
    weight: float = Field(ge=0, allow_inf_nan=False)
    threshold: float = Field(default=0.0, ge=0, lt=1)
    penalty: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    normalizer: str = "text"

    @field_validator("fields", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("comparator")
    @classmethod
    def _known_comparator(cls, value: str) -> str:
        return _known("comparator", value, COMPARATORS)

    @field_validator("normalizer")
    @classmethod
    def _known_normalizer(cls, value: str) -> str:
        return _known("normalizer", value, NORMALIZERS)

    def rule(self) -> Rule:
        return Rule(
            name=self.name or "+".join(self.fields),
            fields=self.fields,
            comparator=self.comparator,
            weight=self.weight,
            threshold=self.threshold,
            penalty=self.penalty,
            normalizer=self.normalizer,
        )


class MatchingOptions(BaseModel):
    """Everything a task may set about matching; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match_threshold: float | None = Field(default=None, gt=0, le=1)
    auto_link_threshold: float | None = Field(default=None, gt=0, le=1)
    prior: float | None = Field(default=None, allow_inf_nan=False)
    default_region: str | None = None
    rules: tuple[RuleData, ...] | None = Field(default=None, min_length=1)
    extra_rules: tuple[RuleData, ...] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, owner: str) -> Self:
        """Validated options, or ConfigurationError naming `owner` and each problem."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as err:
            raise ConfigurationError(f"{owner}: invalid matching: {describe_errors(err)}") from None

    def matcher(self, entity_type: str) -> Matcher:
        """The entity type's default matcher with these options applied."""
        options: dict[str, Any] = self.model_dump(
            include={"match_threshold", "auto_link_threshold", "prior", "default_region"},
            exclude_none=True,
        )
        rules = None if self.rules is None else [data.rule() for data in self.rules]
        if self.extra_rules:
            if rules is None:  # an unknown entity type is refused by for_entity below
                rules = list(PROFILES[entity_type].rules) if entity_type in PROFILES else []
            rules += [data.rule() for data in self.extra_rules]
        if rules is not None:
            options["rules"] = rules
        return Matcher.for_entity(entity_type, **options)


def _known(kind: str, value: str, table: Mapping[str, Any]) -> str:
    if value not in table:
        raise ValueError(f"unknown {kind} {value!r} (known: {', '.join(sorted(table))})")
    return value
