"""The embedded demo: two sandbox systems kept in lockstep through the hub.

Everything runs in this process on the embedded backends (SQLite, in-process queue, local
encrypted secrets), with the same pipelines and adapters as in Azure: the sandboxes are
real HTTP APIs reached through an in-process transport. Three rounds: the first sync,
edits on both sides (one of them a conflict), then an idle round that must write nothing.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from adapters.sandbox import SANDBOX_FIELD_MAPS
from adapters.sandbox_server import SandboxAccount
from integration_core.clock import utcnow
from integration_core.credentials.local import LocalSecretStore
from integration_core.models import Connection, SyncResult, SyncTask
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.runtime import Runtime, build_runtime
from integration_core.settings import load_settings

__all__ = ["RoundReport", "run_demo"]

TENANT = "demo"
INTERVAL = timedelta(minutes=5)
_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Perlman"]
_CITIES = ["London", "Paris", "Berlin", "Lisbon", "Oslo", "Dublin"]


@dataclass
class RoundReport:
    title: str
    seconds: float
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    in_lockstep: bool = False


def _contact(i: int, *, prefix: str) -> dict[str, str]:
    first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
    return {
        "firstname": first,
        "lastname": f"{last}",
        "email": f"{first}.{last}.{prefix}{i}@example.com".lower(),
        "jobtitle": "Engineer",
        "city": _CITIES[i % len(_CITIES)],
    }


def _tally(results: list[SyncResult], names: dict[str, str]) -> dict[str, dict[str, int]]:
    rows = {
        name: dict.fromkeys(("read", "created", "updated", "pushed", "errors"), 0)
        for name in names.values()
    }
    for result in results:
        row = rows[names[result.connection_id]]
        if result.direction == "inbound":
            row["read"] += result.records_read
            row["created"] += result.created
            row["updated"] += result.updated
        else:
            row["pushed"] += result.pushed
        row["errors"] += len(result.errors)
    return rows


def _in_lockstep(a: SandboxAccount, b: SandboxAccount) -> bool:
    """Both systems hold the same contacts with the same mapped field values."""
    fields = list(SANDBOX_FIELD_MAPS["contact"].fields.values())

    def snapshot(account: SandboxAccount) -> list[tuple[object, ...]]:
        return sorted(
            tuple(str(r.properties.get(f)) for f in fields) for r in account.records("contacts")
        )

    return snapshot(a) == snapshot(b)


def _build(workdir: Path, sandboxes: dict[str, SandboxAccount]) -> Runtime:
    settings = load_settings(
        store_backend="sqlite",
        sqlite_path=str(workdir / "lockstep.sqlite3"),
        queue_backend="inline",
        secret_backend="local",  # noqa: S106 (a backend name, not a password)
        local_secrets_path=str(workdir / "secrets.enc"),
        local_secrets_key=LocalSecretStore.generate_key(),
        redis_url=None,
    )
    return build_runtime(settings, sandboxes=sandboxes)


def _connect(rt: Runtime, name: str, account: SandboxAccount, targets: list[str]) -> None:
    connection = Connection(
        id=name,
        tenant_id=TENANT,
        system="sandbox",
        display_name=name.upper(),
        config={"base_url": f"sandbox://{account.name}"},
    )
    rt.store.upsert(Connection.container, connection.to_document())
    rt.credentials.store_credential(
        TENANT, name, {"type": "bearer_token", "token": account.api_key}, owner="demo"
    )
    task = SyncTask(
        id=f"{name}-contacts",
        tenant_id=TENANT,
        connection_id=name,
        entity_type="contact",
        target_connection_ids=targets,
        interval_seconds=int(INTERVAL.total_seconds()),
    )
    rt.store.upsert(SyncTask.container, task.to_document())


def run_demo(*, contacts: int = 200, out: TextIO | None = None) -> list[RoundReport]:
    """Run the three rounds and print a table for each; returns the figures."""
    crm = SandboxAccount(name="crm", api_key=secrets.token_urlsafe(24))
    marketing = SandboxAccount(name="marketing", api_key=secrets.token_urlsafe(24))
    for i in range(contacts):
        crm.create("contacts", _contact(i, prefix="c"))
    for i in range(contacts // 10):
        marketing.create("contacts", _contact(i, prefix="m"))
    names = {"crm": "crm (sandbox)", "marketing": "marketing (sandbox)"}
    reports: list[RoundReport] = []
    with tempfile.TemporaryDirectory(prefix="lockstep-demo-") as tmp:
        rt = _build(Path(tmp), {"crm": crm, "marketing": marketing})
        try:
            _connect(rt, "crm", crm, ["marketing"])
            _connect(rt, "marketing", marketing, ["crm"])
            now = utcnow()

            def edits() -> None:
                for record in crm.records("contacts")[:10]:
                    crm.update("contacts", record.id, {"jobtitle": "Staff Engineer"})
                for record in marketing.records("contacts")[:5]:
                    marketing.update("contacts", record.id, {"city": "Amsterdam"})
                shared = crm.records("contacts")[0]
                twin = next(
                    r
                    for r in marketing.records("contacts")
                    if r.properties["email"] == shared.properties["email"]
                )
                marketing.update("contacts", twin.id, {"phone": "+44 20 7946 0000"})

            rounds: list[tuple[str, Callable[[], None] | None]] = [
                ("round 1: first sync", None),
                ("round 2: edits on both sides", edits),
                ("round 3: nothing changed", None),
            ]
            for k, (title, before) in enumerate(rounds):
                if before is not None:
                    before()
                reports.append(_round(rt, title, now + INTERVAL * k, names, crm, marketing))
        finally:
            rt.close()
    if out is not None:
        for report in reports:
            _print(report, out)
    return reports


def _round(
    rt: Runtime,
    title: str,
    now: datetime,
    names: dict[str, str],
    crm: SandboxAccount,
    marketing: SandboxAccount,
) -> RoundReport:
    started = time.perf_counter()
    run_scheduler(rt, now=now)
    drained = drain_queues(rt)
    seconds = time.perf_counter() - started
    return RoundReport(
        title=title,
        seconds=seconds,
        rows=_tally(drained.results, names),
        in_lockstep=_in_lockstep(crm, marketing),
    )


def _print(report: RoundReport, out: TextIO) -> None:
    columns = ("read", "created", "updated", "pushed", "errors")
    width = max(len(name) for name in report.rows) + 2
    out.write(f"\n{report.title}  ({report.seconds:.2f} s)\n")
    out.write("system".ljust(width) + "".join(c.rjust(9) for c in columns) + "\n")
    out.write("-" * (width + 9 * len(columns)) + "\n")
    for name, row in report.rows.items():
        out.write(name.ljust(width) + "".join(str(row[c]).rjust(9) for c in columns) + "\n")
    verdict = "yes" if report.in_lockstep else "NO"
    out.write(f"both systems hold the same contacts: {verdict}\n")
