"""An embedded Runtime for tests: SQLite in memory, in-process queue, local secrets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from adapters.sandbox_server import SandboxAccount, in_process_transports
from integration_core.clock import utcnow
from integration_core.credentials.local import LocalSecretStore
from integration_core.models import Connection, SyncMode, SyncResult, SyncTask
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.ports import validate_connection
from integration_core.runtime import Runtime, build_runtime
from integration_core.settings import Settings, load_settings
from tests.harness.outbound import LOOPBACK_CIDRS


def embedded_settings(tmp_path: Path, **overrides: object) -> Settings:
    """SQLite in memory, the in-process queue, local secrets under `tmp_path`, no Redis."""
    return load_settings(
        **{
            "store_backend": "sqlite",
            "sqlite_path": ":memory:",
            "queue_backend": "inline",
            "secret_backend": "local",
            "local_secrets_path": str(tmp_path / "secrets.enc"),
            "local_secrets_key": LocalSecretStore.generate_key(),
            "redis_url": None,
            "outbound_allow_private_cidrs": LOOPBACK_CIDRS,
            **overrides,
        }
    )


def embedded_runtime(
    tmp_path: Path,
    sandboxes: Mapping[str, SandboxAccount],
    *,
    transports: Mapping[str, httpx.BaseTransport] | None = None,
    **overrides: object,
) -> Runtime:
    """`transports`: more in-process systems by host (a provider's fake), beside the sandboxes."""
    return build_runtime(
        embedded_settings(tmp_path, **overrides),
        transports={**in_process_transports(sandboxes.values()), **(transports or {})},
    )


def connect(
    rt: Runtime,
    connection: Connection,
    credential: Mapping[str, Any],
    *,
    targets: Sequence[str] = (),
    entity_type: str = "contact",
    expires_at: datetime | None = None,
    **task: Any,
) -> SyncTask:
    """Store `connection` (validated), its credential, and a pull task `<id>-<entity type>`
    pushing to `targets`; `task`: more SyncTask fields (policy, mode, mapping, ...)."""
    validate_connection(connection)
    rt.store.upsert(Connection.container, connection.to_document())
    rt.credentials.store_credential(
        connection.tenant_id, connection.id, credential, expires_at=expires_at
    )
    pull = SyncTask(
        id=f"{connection.id}-{entity_type}",
        tenant_id=connection.tenant_id,
        connection_id=connection.id,
        entity_type=entity_type,
        target_connection_ids=list(targets),
        **task,
    )
    rt.store.upsert(SyncTask.container, pull.to_document())
    return pull


def connect_sandbox(
    rt: Runtime,
    connection_id: str,
    account: SandboxAccount,
    *,
    base_url: str | None = None,
    targets: tuple[str, ...] = (),
    tenant_id: str = "t1",
    entity_type: str = "contact",
    policy: dict[str, object] | None = None,
    priority: int = 0,
    mode: SyncMode = SyncMode.BIDIRECTIONAL,
) -> SyncTask:
    """Store a connection to `account`, its bearer credential, and a pull task for it."""
    connection = Connection(
        id=connection_id,
        tenant_id=tenant_id,
        system="sandbox",
        config={"base_url": base_url or account.in_process_url},
    )
    return connect(
        rt,
        connection,
        {"type": "bearer_token", "token": account.api_key},
        targets=targets,
        entity_type=entity_type,
        policy=policy or {},
        priority=priority,
        mode=mode,
    )


def sync_round(rt: Runtime, minutes: int = 0, *, poisoned: bool = False) -> list[SyncResult]:
    """One scheduler tick `minutes` from now, its queues drained; a message is poisoned
    only when `poisoned` says one will be."""
    run_scheduler(rt, now=utcnow() + timedelta(minutes=minutes))
    report = drain_queues(rt)
    assert bool(report.poisoned) == poisoned, report.poisoned
    return report.results
