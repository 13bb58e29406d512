"""A tenant's figures for the admin API and the admin UI, read from what the store keeps.

Every instance writes the documents these figures come from, so any instance answers the
same: sync results (records per connection and hour, per-stage latency, dedup verdicts,
conflicts, limiter decisions), webhook audit rows (deliveries per outcome), token-refresh
audit rows, decided conflicts and duplicates, and `webhooks_missed` incidents (the
misses reconciliation reported: an incident that saw a miss in the window counts every
miss it summed). The queues' backlog is read live. Nothing here counts
in memory, so nothing is lost when an instance goes away; the window is bounded (a week)
because the raw documents are read.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from integration_core.admin.requests import AdminRequest
from integration_core.clock import from_iso, to_iso, utcnow
from integration_core.credentials.records import TokenRefreshAudit
from integration_core.models import (
    Conflict,
    ConflictStatus,
    DuplicateCandidate,
    SyncResult,
    UtcDatetime,
)
from integration_core.notify.incidents import INCIDENTS
from integration_core.notify.messages import AlertKind
from integration_core.pipelines.backlog import sample_backlogs
from integration_core.pipelines.results import POSTPONED, record_figures
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.webhooks.audit import AUDIT

__all__ = ["MAX_HOURS", "MetricsQuery", "TenantMetrics", "tenant_metrics"]

MAX_HOURS = 7 * 24
_HOUR = timedelta(hours=1)


class MetricsQuery(AdminRequest):
    hours: int = Field(default=24, ge=1, le=MAX_HOURS)


class _View(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Percentiles(_View):
    """Milliseconds; `count` values were measured."""

    p50: float
    p95: float
    p99: float
    count: int


class RecordCounts(_View):
    """Summed `record_figures` of sync results."""

    read: int = 0
    created: int = 0
    linked: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    pushed: int = 0
    failed: int = 0


class HourRecords(RecordCounts):
    hour: UtcDatetime


class ConnectionFigures(_View):
    connection_id: str
    direction: str
    messages: int
    records: RecordCounts
    latency_ms: Percentiles


class HourLatency(_View):
    """The p95 per stage of the messages that finished in the hour (stages run: present)."""

    hour: UtcDatetime
    p95_ms: dict[str, float]


class DedupFigures(_View):
    linked: int = 0
    review: int = 0
    new: int = 0
    match_rate: float | None = None


class ConflictFigures(_View):
    detected: int = 0
    resolved: int = 0
    pending: int = 0
    decided_by_admin: int = 0
    waiting: int = 0


class HourWebhooks(_View):
    hour: UtcDatetime
    outcomes: dict[str, int]


class WebhookFigures(_View):
    outcomes: dict[str, int]
    missed: int
    per_hour: list[HourWebhooks]


class LimiterFigures(_View):
    allowed: int = 0
    denied: int = 0
    fallback: int = 0
    postponed: int = 0


class QueueFigures(_View):
    queue: str
    depth: int
    oldest_age_seconds: float | None


class TenantMetrics(_View):
    since: UtcDatetime
    until: UtcDatetime
    records: RecordCounts
    records_per_hour: list[HourRecords]
    connections: list[ConnectionFigures]
    latency_ms: dict[str, Percentiles]
    latency_per_hour: list[HourLatency]
    dedup: DedupFigures
    conflicts: ConflictFigures
    duplicates_decided: int
    webhooks: WebhookFigures
    token_refreshes: dict[str, int]
    limiter: LimiterFigures
    queues: list[QueueFigures]


def tenant_metrics(
    rt: Runtime, tenant_id: str, *, hours: int = 24, now: datetime | None = None
) -> TenantMetrics:
    """The tenant's figures over the last `hours` whole hours and the current one."""
    now = now or utcnow()
    current = _top_of_hour(now)
    since = current - timedelta(hours=max(1, min(hours, MAX_HOURS)) - 1)
    slots = [since + timedelta(hours=h) for h in range(int((current - since) / _HOUR) + 1)]
    sync = _SyncFigures(slots)
    for document in _in_window(rt, SyncResult.container, tenant_id, "finishedAt", since):
        sync.add(SyncResult.from_document(document))
    queues = [
        QueueFigures(queue=q, depth=b.depth, oldest_age_seconds=b.oldest_age_seconds)
        for q, b in sample_backlogs(rt).items()
    ]
    return TenantMetrics(
        since=since,
        until=now,
        records=RecordCounts(**sync.totals),
        records_per_hour=[HourRecords(hour=h, **sync.per_hour[h]) for h in slots],
        connections=sync.connections(),
        latency_ms={stage: _percentiles(v) for stage, v in sorted(sync.stages.items())},
        latency_per_hour=[
            HourLatency(
                hour=h,
                p95_ms={s: _percentiles(v).p95 for s, v in sorted(sync.hour_stages[h].items())},
            )
            for h in slots
        ],
        dedup=_dedup(sync.dedup),
        conflicts=ConflictFigures(
            detected=sync.conflicts["detected"],
            resolved=sync.conflicts["resolved"],
            pending=sync.conflicts["pending"],
            decided_by_admin=len(_decided(rt, Conflict.container, tenant_id, since)),
            waiting=_waiting_conflicts(rt, tenant_id),
        ),
        duplicates_decided=len(_decided(rt, DuplicateCandidate.container, tenant_id, since)),
        webhooks=_webhooks(rt, tenant_id, since, slots),
        token_refreshes=dict(
            Counter(
                row["outcome"]
                for row in _in_window(
                    rt, TokenRefreshAudit.container, tenant_id, "startedAt", since
                )
            )
        ),
        limiter=LimiterFigures(**sync.limiter),
        queues=queues,
    )


def _hour_of(stamp: str) -> datetime:
    return _top_of_hour(from_iso(stamp))


def _top_of_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _in_window(
    rt: Runtime, container: str, tenant_id: str, field: str, since: datetime
) -> list[dict[str, Any]]:
    return rt.store.query(
        container, partition_key=tenant_id, filters=[Filter(field, ">=", to_iso(since))]
    )


class _SyncFigures:
    """Sums over the sync results of the window."""

    def __init__(self, slots: Iterable[datetime]) -> None:
        self.totals: Counter[str] = Counter()
        self.per_hour: dict[datetime, Counter[str]] = {h: Counter() for h in slots}
        self.by_connection: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        self.durations: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.stages: dict[str, list[float]] = defaultdict(list)
        self.hour_stages: dict[datetime, dict[str, list[float]]] = {
            h: defaultdict(list) for h in self.per_hour
        }
        self.dedup: Counter[str] = Counter()
        self.conflicts: Counter[str] = Counter()
        self.limiter: Counter[str] = Counter()

    def add(self, result: SyncResult) -> None:
        counts = record_figures(result)
        hour = _top_of_hour(result.finished_at)
        self.totals.update(counts)
        if hour in self.per_hour:
            self.per_hour[hour].update(counts)
        key = (result.connection_id, result.direction)
        self.by_connection[key].update(counts | {"messages": 1})
        self.durations[key].append(result.duration_ms)
        self.stages[result.direction].append(result.duration_ms)
        for stage, ms in result.stage_ms.items():
            self.stages[stage].append(ms)
            if hour in self.hour_stages:
                self.hour_stages[hour][stage].append(ms)
        self.dedup.update(result.dedup)
        self.conflicts.update(result.conflict_counts)
        self.limiter.update(result.limiter)
        if any(e.startswith(POSTPONED) for e in result.errors):
            self.limiter["postponed"] += 1

    def connections(self) -> list[ConnectionFigures]:
        return [
            ConnectionFigures(
                connection_id=connection,
                direction=direction,
                messages=counts["messages"],
                records=RecordCounts.model_validate(counts),
                latency_ms=_percentiles(self.durations[(connection, direction)]),
            )
            for (connection, direction), counts in sorted(self.by_connection.items())
        ]


def _percentiles(values: list[float]) -> Percentiles:
    if len(values) < 2:
        only = round(values[0], 3) if values else 0.0
        return Percentiles(p50=only, p95=only, p99=only, count=len(values))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return Percentiles(
        p50=round(cuts[49], 3), p95=round(cuts[94], 3), p99=round(cuts[98], 3), count=len(values)
    )


def _dedup(verdicts: Counter[str]) -> DedupFigures:
    judged = verdicts["linked"] + verdicts["review"] + verdicts["new"]
    rate = round(verdicts["linked"] / judged, 4) if judged else None
    return DedupFigures(
        linked=verdicts["linked"], review=verdicts["review"], new=verdicts["new"], match_rate=rate
    )


def _decided(rt: Runtime, container: str, tenant_id: str, since: datetime) -> list[Any]:
    return _in_window(rt, container, tenant_id, "decidedAt", since)


def _waiting_conflicts(rt: Runtime, tenant_id: str) -> int:
    pending = rt.store.query(
        Conflict.container,
        partition_key=tenant_id,
        filters=[Filter("status", "=", ConflictStatus.PENDING.value)],
    )
    return len(pending)


def _webhooks(
    rt: Runtime, tenant_id: str, since: datetime, slots: list[datetime]
) -> WebhookFigures:
    per_hour: dict[datetime, Counter[str]] = {h: Counter() for h in slots}
    outcomes: Counter[str] = Counter()
    for row in _in_window(rt, AUDIT, tenant_id, "at", since):
        outcomes[row["outcome"]] += 1
        hour = _hour_of(row["at"])
        if hour in per_hour:
            per_hour[hour][row["outcome"]] += 1
    missed = sum(
        int(incident.get("totals", {}).get("missed", 0))
        for incident in rt.store.query(
            INCIDENTS,
            partition_key=tenant_id,
            filters=[
                Filter("kind", "=", AlertKind.WEBHOOKS_MISSED.value),
                Filter("lastOccurredAt", ">=", to_iso(since)),
            ],
        )
    )
    return WebhookFigures(
        outcomes=dict(outcomes),
        missed=missed,
        per_hour=[HourWebhooks(hour=h, outcomes=dict(per_hour[h])) for h in slots],
    )
