"""The mapping layer's errors: one a pipeline acts on, one a converter raises."""

from __future__ import annotations

from integration_core.errors import PermanentError

__all__ = ["ConversionError", "MappingError"]


class ConversionError(ValueError):
    """A converter cannot turn this value into the other shape (the reason, no context)."""


class MappingError(PermanentError):
    """A record that cannot be expressed in the other shape: dead-letter it with the reason.

    Names the provider (system), its object, the record, the canonical field and the
    provider path, so the dead letter says exactly what to fix:
    "hubspot tasks record '9001', field 'status', path 'properties.hs_task_status': ...".
    """

    def __init__(
        self,
        reason: str,
        *,
        system: str | None = None,
        provider_object: str | None = None,
        record_id: str | None = None,
        field: str | None = None,
        path: str | None = None,
    ) -> None:
        self.reason = reason
        self.system = system
        self.provider_object = provider_object
        self.record_id = record_id
        self.field = field
        self.path = path
        what = " ".join(part for part in (system, provider_object) if part)
        where = ", ".join(
            f"{label} {value!r}"
            for label, value in (("record", record_id), ("field", field), ("path", path))
            if value is not None
        )
        prefix = " ".join(part for part in (what, where) if part)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)

    def located(self, *, system: str | None, provider_object: str) -> MappingError:
        """The same error, naming the provider and object it happened in."""
        return MappingError(
            self.reason,
            system=system,
            provider_object=provider_object,
            record_id=self.record_id,
            field=self.field,
            path=self.path,
        )
