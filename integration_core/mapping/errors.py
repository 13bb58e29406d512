"""The mapping layer's errors: one a pipeline acts on, one a converter raises."""

from __future__ import annotations

from integration_core.errors import PermanentError

__all__ = ["ConversionError", "MappingError"]


class ConversionError(ValueError):
    """A converter cannot turn this value into the other shape (the reason, no context)."""


class MappingError(PermanentError):
    """A record that cannot be expressed in the other shape: dead-letter it with the reason.

    Names the record, the canonical field and the provider path, so the dead letter says
    exactly what to fix.
    """

    def __init__(
        self,
        reason: str,
        *,
        record_id: str | None = None,
        field: str | None = None,
        path: str | None = None,
    ) -> None:
        self.reason = reason
        self.record_id = record_id
        self.field = field
        self.path = path
        where = ", ".join(
            f"{label} {value!r}"
            for label, value in (("record", record_id), ("field", field), ("path", path))
            if value is not None
        )
        super().__init__(f"{where}: {reason}" if where else reason)
