"""The log context: set once at a trigger, on every record below it, kept per thread."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from integration_core.observability import install_log_context, install_redaction, log_context

pytestmark = pytest.mark.unit
log = logging.getLogger("integration_core.test")


@pytest.fixture(autouse=True)
def fresh_logging() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    install_redaction()
    install_log_context()
    install_log_context()  # idempotent, whatever wraps it
    yield
    logging.setLogRecordFactory(factory)


def _fields(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.correlation_id, r.tenant) for r in caplog.records]  # type: ignore[attr-defined]


def test_nested_contexts_keep_the_id_and_learn_the_tenant(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    log.info("outside")
    with log_context(correlation_id="c1"):
        log.info("tick")
        with log_context(tenant_id="t1"):
            log.info("tenant learned")
        with log_context(correlation_id="c2", tenant_id="t2"):
            log.info("a message of its own")
        log.info("back")
    assert _fields(caplog) == [("-", "-"), ("c1", "-"), ("c1", "t1"), ("c2", "t2"), ("c1", "-")]


def test_a_context_without_an_id_starts_a_fresh_one(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with log_context() as first:
        log.info("one")
    with log_context() as second:
        log.info("two")
    assert first.correlation_id != second.correlation_id
    assert [c for c, _ in _fields(caplog)] == [first.correlation_id, second.correlation_id]


def test_work_handed_to_threads_in_a_copied_context_keeps_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    def work(tenant: str) -> None:
        with log_context(tenant_id=tenant):
            log.info("refreshing")

    with log_context(correlation_id="run"), ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(contextvars.copy_context().run, work, t) for t in ("a", "b")]
        for future in futures:
            future.result()
    assert sorted(_fields(caplog)) == [("run", "a"), ("run", "b")]


def test_call_sites_may_still_pass_their_own_tenant_id_extra(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with log_context(correlation_id="c1", tenant_id="t1"):
        log.info("registration disabled", extra={"tenant_id": "t1", "registration_id": "r1"})
    (record,) = caplog.records
    assert (record.correlation_id, record.tenant, record.tenant_id) == ("c1", "t1", "t1")  # type: ignore[attr-defined]
