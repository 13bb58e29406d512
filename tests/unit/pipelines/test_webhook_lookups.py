"""Distinct unknown webhook ids cannot each cost a cross-partition query (issue 11, §9).

The receiver's limiter is keyed by registration id, so before the lookup budget every
new id passed it and queried the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.pipelines.webhook_lookups import (
    MISSES_PER_FLEET,
    MISSES_PER_SOURCE,
    source_address,
)
from integration_core.runtime import Runtime
from integration_core.storage import DocumentStore
from integration_core.webhooks.registrations import WebhookRegistration, WebhookRegistrations
from tests.harness.embedded import embedded_runtime

pytestmark = pytest.mark.unit


WEBHOOKS = WebhookRegistration.container


class _CountingStore:
    """Counts the queries on the webhooks container."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.lookups = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def query(self, container: str, **options: Any) -> list[dict[str, Any]]:
        self.lookups += container == WEBHOOKS
        return self.inner.query(container, **options)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = embedded_runtime(tmp_path, {})
    WebhookRegistrations(runtime.store, runtime.credentials).register(
        "t1", "c1", "github", registration_id="reg-known"
    )
    runtime.store = _CountingStore(runtime.store)  # type: ignore[assignment]
    yield runtime
    runtime.close()


def _lookups(rt: Runtime) -> int:
    store: _CountingStore = rt.store  # type: ignore[assignment]
    return store.lookups


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": f"192.0.2.250, {address}:49152"}


def test_one_source_spends_its_budget_then_costs_no_lookups(rt: Runtime) -> None:
    statuses = [
        receive_webhook(rt, f"unknown-{n}", headers=_from("203.0.113.7"), body=b"{}").status
        for n in range(MISSES_PER_SOURCE + 5)
    ]
    assert statuses == [404] * MISSES_PER_SOURCE + [429] * 5
    assert _lookups(rt) == MISSES_PER_SOURCE
    refused = receive_webhook(rt, "unknown-again", headers=_from("203.0.113.7"), body=b"{}")
    assert int(refused.headers["Retry-After"]) >= 1
    assert receive_webhook(rt, "unknown-x", headers=_from("198.51.100.1"), body=b"{}").status == 404


def test_many_sources_spend_the_fleet_budget(rt: Runtime) -> None:
    sources = [f"10.0.{n // 200}.{n % 200}" for n in range(MISSES_PER_FLEET + 5)]
    statuses = [receive_webhook(rt, f"u-{s}", headers=_from(s), body=b"{}").status for s in sources]
    assert statuses == [404] * MISSES_PER_FLEET + [429] * 5
    assert _lookups(rt) == MISSES_PER_FLEET


def test_a_registration_found_before_is_still_served_while_the_budget_is_spent(
    rt: Runtime,
) -> None:
    assert receive_webhook(rt, "reg-known", headers=_from("203.0.113.9"), body=b"{}").status == 401
    for n in range(MISSES_PER_SOURCE):
        receive_webhook(rt, f"unknown-{n}", headers=_from("203.0.113.9"), body=b"{}")
    assert (
        receive_webhook(rt, "unknown-more", headers=_from("203.0.113.9"), body=b"{}").status == 429
    )
    assert receive_webhook(rt, "reg-known", headers=_from("203.0.113.9"), body=b"{}").status == 401


@pytest.mark.parametrize("hostile", ["..", ".", "c-of-A/..", "a?b", "x" * 300])
def test_an_id_that_cannot_exist_is_a_miss_without_a_lookup(rt: Runtime, hostile: str) -> None:
    assert receive_webhook(rt, hostile, headers=_from("203.0.113.10"), body=b"{}").status == 404
    assert _lookups(rt) == 0


def test_the_source_is_the_address_the_platform_appended() -> None:
    assert source_address({"x-forwarded-for": "1.1.1.1, 203.0.113.7:5000"}) == "203.0.113.7"
    assert source_address({"X-Forwarded-For": "[2001:db8::1]:443"}) == "2001:db8::1"
    assert source_address({"X-Forwarded-For": "2001:db8::2"}) == "2001:db8::2"
    assert source_address({}) == "unknown"
