"""The audit row `write_audit` builds by hand is the document `WebhookAudit` reads and
writes: same names, same values, nothing more."""

from __future__ import annotations

import pytest

from integration_core.storage.sqlite import SqliteDocumentStore
from integration_core.webhooks.audit import AUDIT, Outcome, WebhookAudit, write_audit

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("outcome", "reason", "delivery_id"),
    [(Outcome.ACCEPTED, None, "d-1"), (Outcome.REFUSED, "bad_signature", None)],
)
def test_the_row_is_what_the_model_would_write(
    outcome: Outcome, reason: str | None, delivery_id: str | None
) -> None:
    store = SqliteDocumentStore()
    write_audit(
        store,
        tenant_id="t1",
        registration_id="r1",
        provider="github",
        outcome=outcome,
        status=202,
        latency_ms=1.23456,
        reason=reason,
        delivery_id=delivery_id,
    )
    [stored] = store.query(AUDIT)
    row = {k: v for k, v in stored.items() if not k.startswith("_")}
    assert WebhookAudit.from_document(row).to_document() == row
    assert row["latencyMs"] == 1.235
    assert row["ttl"] == 30 * 24 * 3600
