"""TokenRefresher: refresh every credential that expires within a window, in parallel.

Called by the TokenRefresher timer. Each credential goes through
`CredentialService.refresh`, which takes the cross-instance lock, skips credentials another
instance has already refreshed, and writes one `token-refresh` audit row per attempt. A
failure of one credential never stops the others.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from integration_core.credentials.oauth import ReauthRequiredError
from integration_core.credentials.records import CredentialRecord, RefreshOutcome
from integration_core.credentials.refresher import RefreshResult
from integration_core.credentials.service import CredentialService
from integration_core.errors import LockstepError, RetryableError
from integration_core.observability import log_context
from integration_core.observability.metrics import count

__all__ = ["TokenRefreshReport", "run_token_refresh"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenRefreshReport:
    """What one TokenRefresher run did; `outcomes` counts results by `RefreshOutcome`."""

    considered: int
    outcomes: dict[str, int]
    duration_ms: float
    results: list[RefreshResult] = field(repr=False, default_factory=list)

    @property
    def refreshed(self) -> int:
        return self.outcomes.get(RefreshOutcome.REFRESHED.value, 0)

    @property
    def failed(self) -> int:
        return sum(
            self.outcomes.get(o.value, 0)
            for o in (
                RefreshOutcome.NEEDS_REAUTH,
                RefreshOutcome.RETRYABLE_ERROR,
                RefreshOutcome.ERROR,
            )
        )


def _refresh_in_context(
    service: CredentialService, record: CredentialRecord, window: timedelta
) -> RefreshResult:
    with log_context(tenant_id=record.tenant_id):
        return _refresh_one(service, record, window)


def _refresh_one(
    service: CredentialService, record: CredentialRecord, window: timedelta
) -> RefreshResult:
    began = time.perf_counter()
    try:
        return service.refresh(record.tenant_id, record.id, trigger="timer", min_validity=window)
    except LockstepError as err:
        if isinstance(err, ReauthRequiredError):
            outcome = RefreshOutcome.NEEDS_REAUTH
        elif isinstance(err, RetryableError):
            outcome = RefreshOutcome.RETRYABLE_ERROR
        else:
            outcome = RefreshOutcome.ERROR
        _log.warning(
            "token refresh failed: %s",
            type(err).__name__,
            extra={
                "connection_id": record.connection_id,
                "credential_id": record.id,
                "outcome": outcome.value,
            },
        )
        return RefreshResult(
            tenant_id=record.tenant_id,
            credential_id=record.id,
            connection_id=record.connection_id,
            outcome=outcome,
            attempts=0,
            duration_ms=round((time.perf_counter() - began) * 1000, 2),
            expires_at=record.expires_at,
            error=type(err).__name__,
        )


def run_token_refresh(
    service: CredentialService,
    *,
    window: timedelta = timedelta(minutes=60),
    concurrency: int = 8,
) -> TokenRefreshReport:
    """Refresh every active credential expiring within `window`, at most `concurrency` at once."""
    began = time.perf_counter()
    due = service.expiring(window)
    results: list[RefreshResult] = []
    if due:
        with ThreadPoolExecutor(
            max_workers=max(1, min(concurrency, len(due))), thread_name_prefix="token-refresh"
        ) as pool:
            # Each refresh runs in a copy of this context: its lines keep the run's correlation id.
            futures = [
                pool.submit(contextvars.copy_context().run, _refresh_in_context, service, r, window)
                for r in due
            ]
            results = [f.result() for f in futures]
    counts = Counter(r.outcome.value for r in results)
    for outcome, value in counts.items():
        count("token_refresh", value, outcome=outcome)
    report = TokenRefreshReport(
        considered=len(due),
        outcomes=dict(counts),
        duration_ms=round((time.perf_counter() - began) * 1000, 2),
        results=results,
    )
    _log.info(
        "token refresh run: %d due, %s",
        report.considered,
        dict(counts),
        extra={"considered": report.considered, "duration_ms": report.duration_ms},
    )
    return report
