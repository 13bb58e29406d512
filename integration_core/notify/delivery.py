"""Sending the outbox: retried with backoff, never on the sync path.

The Notifier timer calls `deliver_outbox`. Each message is posted through the outbound
policy (a destination URL is tenant input), retried a few times in place with exponential
backoff (tenacity) on timeouts, refused connections, 429 and 5xx; a message still failing
waits for a later run, longer each time, and is given up (status `failed`, logged) after
`MAX_RUNS` runs. A 4xx other than 429 will not change on retry: it fails at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from integration_core.clock import to_iso, utcnow
from integration_core.errors import NotFoundError, RetryableError
from integration_core.net import OutboundPolicyError, outbound_client
from integration_core.notify.destinations import destination_url
from integration_core.notify.incidents import OUTBOX
from integration_core.runtime import Runtime
from integration_core.storage import Filter

__all__ = ["DeliveryReport", "MAX_RUNS", "deliver_outbox"]

log = logging.getLogger(__name__)
MAX_RUNS = 8
BATCH = 100


@dataclass
class DeliveryReport:
    sent: int = 0
    postponed: int = 0
    failed: int = 0


class _Refused(Exception):
    """The destination refused the message for good (a 4xx other than 429)."""


class _Skipped(Exception):
    """Not tried in this run; tried again in a later one."""


def deliver_outbox(
    rt: Runtime,
    *,
    now: datetime | None = None,
    attempts: int = 3,
    backoff_seconds: float = 0.5,
    timeout: float = 10.0,
) -> DeliveryReport:
    """Send what is due; never raises for a destination's failure."""
    now = now or utcnow()
    report = DeliveryReport()
    due = rt.store.query(
        OUTBOX,
        filters=[Filter("status", "=", "pending"), Filter("nextAttemptAt", "<=", to_iso(now))],
        order_by=[("nextAttemptAt", False)],
        limit=BATCH,
    )
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff_seconds, max=backoff_seconds * 8),
        retry=retry_if_exception_type(RetryableError),
        reraise=False,
    )
    # A destination that failed this run is not tried again in it: one slow or broken
    # destination costs one message's retries per run, and the others still get theirs.
    failing: set[str] = set()
    with outbound_client(rt.connectors.policy, timeout=timeout) as client:
        for message in due:
            if message["destinationId"] in failing:
                _failed(rt, message, _Skipped("its destination failed in this run"), now, report)
                continue
            try:
                url = destination_url(rt, message["tenantId"], message["destinationId"])
                retrying(_post, client, url, message["payload"])
            except (RetryError, _Refused, NotFoundError) as err:
                if isinstance(err, RetryError):
                    failing.add(message["destinationId"])
                _failed(rt, message, err, now, report)
            else:
                rt.store.delete(OUTBOX, message["tenantId"], message["id"])
                report.sent += 1
    return report


def _post(client: httpx.Client, url: str, payload: dict[str, Any]) -> None:
    try:
        response = client.post(url, json=payload)
    except httpx.TransportError as err:
        raise RetryableError(f"notification: {type(err).__name__}") from err
    except OutboundPolicyError as err:
        # Where the URL leads now (a name can start resolving inside): refused, not retried.
        raise _Refused(f"notification: {err}") from err
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"notification: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise _Refused(f"notification: HTTP {response.status_code}")


def _failed(
    rt: Runtime, message: dict[str, Any], err: Exception, now: datetime, report: DeliveryReport
) -> None:
    runs = int(message["attempts"]) + 1
    cause = err.last_attempt.exception() if isinstance(err, RetryError) else err
    gave_up = isinstance(err, _Refused | NotFoundError) or runs >= MAX_RUNS
    later = now + timedelta(minutes=min(2**runs, 60))
    rt.store.upsert(
        OUTBOX,
        message
        | {
            "attempts": runs,
            "status": "failed" if gave_up else "pending",
            "nextAttemptAt": to_iso(later),
            "lastError": str(cause),
        },
    )
    if gave_up:
        report.failed += 1
        log.warning("notification %s given up: %s", message["id"], cause)
    else:
        report.postponed += 1
        log.info("notification %s postponed after run %d: %s", message["id"], runs, cause)
