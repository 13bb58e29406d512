"""What every provider's webhook parser shares: reading the body, and thin notices whose
bad fields are named (provider, event index, field).

A parser gets a delivery whose signature the receiver already verified, so a body it cannot
read is a format it does not know: a PermanentError, and the delivery stays in the inbox.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from adapters.toolkit.spec import parse_time
from integration_core.errors import PermanentError
from integration_core.ports import ChangeNotice

__all__ = ["webhook_json", "webhook_notice"]


def webhook_json(provider: str, body: bytes) -> Any:
    """The delivery's JSON body; PermanentError naming the provider when it is not JSON."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PermanentError(f"{provider} webhook: the body is not JSON ({err})") from err


def webhook_notice(
    provider: str,
    index: int,
    *,
    object_type: Literal["contact", "company", "task"],
    external_id: Any,
    operation: Literal["upsert", "delete"],
    occurred_at: Any,
) -> ChangeNotice:
    """A thin notice (values None: the record is read by id); `occurred_at` is ISO-8601
    with a zone or epoch milliseconds."""
    where = f"{provider} webhook event {index}"
    if isinstance(external_id, bool) or not isinstance(external_id, str | int) or external_id == "":
        raise PermanentError(f"{where}: no record id")
    try:
        when = parse_time(occurred_at) if occurred_at is not None else None
    except ValueError as err:
        raise PermanentError(f"{where}: occurred at: {err}") from err
    return ChangeNotice(
        provider=provider,
        object_type=object_type,
        external_id=str(external_id),
        operation=operation,
        occurred_at=when,
    )
