"""The receiver's cache of registrations and secrets: how stale it may be, and where not.

"Another instance" is a change written to the store without this process's
`WebhookRegistrations` (which forgets the cached id on every change it makes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from integration_core.credentials.types import WebhookSecret
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.runtime import Runtime
from integration_core.storage.concurrency import update_document
from integration_core.webhooks import registration_cache
from integration_core.webhooks.registration_cache import CACHE_SECONDS, RegistrationCache
from integration_core.webhooks.registrations import WebhookRegistration, WebhookRegistrations
from tests.harness.embedded import embedded_runtime
from tests.harness.faults import ManualClock
from tests.harness.webhooks import github_delivery

pytestmark = pytest.mark.unit
TENANT = "t1"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def rt(tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    runtime = embedded_runtime(tmp_path, {})
    monkeypatch.setitem(registration_cache._caches, runtime.store, RegistrationCache(clock=clock))
    yield runtime
    runtime.close()


def _register(rt: Runtime) -> tuple[WebhookRegistration, str]:
    registration, secret = WebhookRegistrations(rt.store, rt.credentials).register(
        TENANT, "gh", "github"
    )
    assert secret is not None
    return registration, secret


def _post(rt: Runtime, registration_id: str, secret: str) -> int:
    headers, body = github_delivery(secret)
    return receive_webhook(rt, registration_id, headers=headers, body=body).status


def _disable_elsewhere(rt: Runtime, registration_id: str) -> None:
    update_document(
        rt.store,
        WebhookRegistration.container,
        TENANT,
        registration_id,
        lambda document: document | {"status": "disabled"},
    )


def test_a_registration_disabled_by_another_instance_stops_within_the_cache_time(
    rt: Runtime, clock: ManualClock
) -> None:
    registration, secret = _register(rt)
    assert _post(rt, registration.id, secret) == 202
    _disable_elsewhere(rt, registration.id)
    clock.advance(CACHE_SECONDS - 0.1)
    assert _post(rt, registration.id, secret) == 202  # the documented bound, not longer
    clock.advance(0.1)
    assert _post(rt, registration.id, secret) == 410


def test_a_change_made_here_is_seen_by_the_next_delivery(rt: Runtime) -> None:
    registration, secret = _register(rt)
    registrations = WebhookRegistrations(rt.store, rt.credentials, disabled_after=1)
    assert _post(rt, registration.id, secret) == 202
    registrations.record_failure(registration, "bad_signature")
    assert _post(rt, registration.id, secret) == 410
    registrations.enable(TENANT, registration.id)
    assert _post(rt, registration.id, secret) == 202
    registrations.unregister(TENANT, registration.id)
    assert _post(rt, registration.id, secret) == 404


def test_a_secret_rotated_by_another_instance_verifies_at_once(rt: Runtime) -> None:
    registration, old = _register(rt)
    assert _post(rt, registration.id, old) == 202
    rt.credentials.rotate(
        TENANT,
        registration.credential_id,
        WebhookSecret(secret=SecretStr("rotated-elsewhere")),
        overlap=timedelta(0),
    )
    assert _post(rt, registration.id, "rotated-elsewhere") == 202
    # The fresh read replaced nothing in the cache: the old secret is dropped within the bound.
    assert _post(rt, registration.id, "forged") == 401


def test_a_rotation_here_ends_the_old_secret_at_once(rt: Runtime) -> None:
    registration, old = _register(rt)
    assert _post(rt, registration.id, old) == 202
    new = WebhookRegistrations(rt.store, rt.credentials).rotate(
        TENANT, registration.id, overlap=timedelta(0)
    )
    assert _post(rt, registration.id, old) == 401
    assert _post(rt, registration.id, new) == 202


def test_a_read_that_began_before_a_change_is_not_kept(clock: ManualClock) -> None:
    cache = RegistrationCache(clock=clock)
    registration = WebhookRegistration(
        id="r1", tenant_id=TENANT, provider="github", connection_id="gh", credential_id="c1"
    )
    generation = cache.generation()
    cache.forget("r1")  # a change lands while the read is in flight
    cache.put(registration, generation)
    assert cache.registration("r1") is None
    cache.put(registration, cache.generation())
    assert cache.registration("r1") is registration
    cache.attach(registration, generation, ("stale",))
    assert cache.secrets(registration) is None


def test_the_cache_keeps_at_most_its_size(clock: ManualClock) -> None:
    cache = RegistrationCache(clock=clock, size=2)
    made = [
        WebhookRegistration(
            id=f"r{i}", tenant_id=TENANT, provider="github", connection_id="gh", credential_id="c"
        )
        for i in range(3)
    ]
    for registration in made:
        cache.put(registration, cache.generation())
    assert [cache.registration(r.id) for r in made] == [None, made[1], made[2]]
