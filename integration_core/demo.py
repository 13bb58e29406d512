"""The embedded demo: two systems kept in lockstep through the hub.

Everything runs in this process on the embedded backends (SQLite, in-process queue, local
encrypted secrets), with the same pipelines and adapters as in Azure: the systems (two
sandboxes by default; `systems=("hubspot", "salesforce")` for the HubSpot- and
Salesforce-shaped fakes, see `demo_systems.py`) are real HTTP APIs reached through an
in-process transport. Three rounds: the first sync (one
contact both systems have is linked, a probable duplicate waits for review), an admin's
confirmation and edits on both sides, then an idle round that must write nothing.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from adapters.sandbox_server import SandboxAccount
from integration_core.clock import utcnow
from integration_core.credentials.local import LocalSecretStore
from integration_core.demo_systems import DemoSystem, make_system, transports
from integration_core.models import Connection, SyncResult, SyncTask
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.matching import decide_duplicate, list_duplicates
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.ports import validate_connection
from integration_core.runtime import Runtime, build_runtime
from integration_core.settings import load_settings

__all__ = ["TENANT", "RoundReport", "demo_accounts", "run_demo"]

TENANT = "demo"
COLUMNS = ("read", "created", "linked", "updated", "pushed", "errors")
INTERVAL = timedelta(minutes=5)
_FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Radia",
    "Leslie",
    "Margaret",
    "John",
    "Katherine",
    "Dennis",
    "Hedy",
    "Tim",
    "Sophie",
    "Niklaus",
    "Shafi",
    "Lynn",
]
_LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Perlman",
    "Lamport",
    "Hamilton",
    "Backus",
    "Johnson",
    "Ritchie",
    "Lamarr",
    "Berners",
    "Wilson",
    "Wirth",
    "Goldwasser",
    "Conway",
]
_OTHER_FIRST = [
    "Mary",
    "Claude",
    "Jean",
    "Carl",
    "Emmy",
    "Kurt",
    "Rosalind",
    "Paul",
    "Marie",
    "Niels",
]
_OTHER_LAST = ["Somerville", "Shannon", "Sammet", "Gauss"]
_CITIES = ["London", "Paris", "Berlin", "Lisbon", "Oslo", "Dublin"]


@dataclass
class RoundReport:
    title: str
    seconds: float
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    in_lockstep: bool = False
    notes: list[str] = field(default_factory=list)


def _person(first: str, last: str, i: int, *, domain: str, complete: bool) -> dict[str, str]:
    """A contact's canonical values; `complete` adds a phone and a country (see `_seed`)."""
    person = {
        "first_name": first,
        "last_name": last,
        "email": f"{first}.{last}@{domain}".lower(),
        "title": "Engineer",
        "city": _CITIES[i % len(_CITIES)],
    }
    if complete:
        person |= {"phone": f"+44207946{i:04d}", "country": "GB"}
    return person


def _seed(crm: DemoSystem, marketing: DemoSystem, contacts: int) -> None:
    """Distinct people in each system, plus two that marketing has too: one the same person
    with a typo (linked automatically), one only probably the same (held for review).

    Salesforce lists every field it maps, an empty one as null, and HubSpot refuses a null
    property: a HubSpot-side gap, so the people a Salesforce system holds first have every
    field HubSpot maps.
    """

    def complete(system: DemoSystem) -> bool:
        return system.system == "salesforce"

    crm_people = [
        _person(
            _FIRST[i % 20], _LAST[(i // 20) % 20], i, domain="example.com", complete=complete(crm)
        )
        for i in range(contacts)
    ]
    twin = dict(crm_people[0], last_name=crm_people[0]["last_name"][:-1] + "s")
    twin["email"] = twin["email"].upper()
    maybe = dict(crm_people[1], email="g.hopper@navy.example.org")
    if "phone" in maybe:
        maybe["phone"] = f"+44207946{contacts + 1:04d}"  # another line: still only probable
    for k, person in enumerate((twin, maybe)):
        if complete(marketing) and "phone" not in person:
            person |= {"phone": f"+44207946{contacts + k:04d}", "country": "GB"}
        marketing.create(person)  # edited in marketing before crm: older
    for i in range(contacts // 10):
        person = _person(
            _OTHER_FIRST[i % 10],
            _OTHER_LAST[i // 10 % 4],
            i,
            domain="example.net",
            complete=complete(marketing),
        )
        marketing.create(person)
    for person in crm_people:
        crm.create(person)


def demo_accounts(*, contacts: int = 200) -> tuple[SandboxAccount, SandboxAccount]:
    """The demo's two sandbox systems, crm and marketing, seeded with its people (the
    browser tests serve the same data over HTTP).
    """
    crm, marketing = make_system("sandbox", "crm"), make_system("sandbox", "marketing")
    _seed(crm, marketing, contacts)
    accounts = crm.app, marketing.app
    assert isinstance(accounts[0], SandboxAccount)
    assert isinstance(accounts[1], SandboxAccount)
    return accounts[0], accounts[1]


def _tally(results: list[SyncResult], names: dict[str, str]) -> dict[str, dict[str, int]]:
    rows = {name: dict.fromkeys(COLUMNS, 0) for name in names.values()}
    for result in results:
        row = rows[names[result.connection_id]]
        if result.direction == "inbound":
            row["read"] += result.records_read
            row["created"] += result.created
            row["linked"] += result.linked
            row["updated"] += result.updated
        else:
            row["pushed"] += result.pushed
        row["errors"] += len(result.errors)
    return rows


def _in_lockstep(a: DemoSystem, b: DemoSystem) -> bool:
    """Both systems hold the same contacts with the same values in every canonical field
    both of them map."""
    fields = sorted(a.mapping.canonical_fields & b.mapping.canonical_fields)

    def snapshot(system: DemoSystem) -> list[tuple[str, ...]]:
        return sorted(tuple(str(c.get(f)) for f in fields) for c in system.canonical())

    return snapshot(a) == snapshot(b)


def _build(workdir: Path, systems: list[DemoSystem]) -> Runtime:
    settings = load_settings(
        store_backend="sqlite",
        sqlite_path=str(workdir / "lockstep.sqlite3"),
        queue_backend="inline",
        secret_backend="local",  # noqa: S106 (a backend name, not a password)
        local_secrets_path=str(workdir / "secrets.enc"),
        local_secrets_key=LocalSecretStore.generate_key(),
        redis_url=None,
    )
    return build_runtime(settings, transports=transports(systems))


def _connect(rt: Runtime, system: DemoSystem, targets: list[str]) -> None:
    name = system.role
    connection = Connection(
        id=name,
        tenant_id=TENANT,
        system=system.system,
        display_name=name.upper(),
        config=system.config,
    )
    validate_connection(connection)
    rt.store.upsert(Connection.container, connection.to_document())
    rt.credentials.store_credential(
        TENANT, name, system.credential, expires_at=system.credential_expires_at, owner="demo"
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


def run_demo(
    *,
    contacts: int = 200,
    systems: tuple[str, str] = ("sandbox", "sandbox"),
    out: TextIO | None = None,
) -> list[RoundReport]:
    """Run the three rounds between `systems` (the `crm` and the `marketing` one, by
    `demo_systems.DEMO_SYSTEMS` name) and print a table for each; returns the figures.

    Raises:
        ValueError: a system the demo does not know.
    """
    crm, marketing = make_system(systems[0], "crm"), make_system(systems[1], "marketing")
    _seed(crm, marketing, contacts)
    names = {s.role: s.label for s in (crm, marketing)}
    reports: list[RoundReport] = []
    with tempfile.TemporaryDirectory(prefix="lockstep-demo-") as tmp:
        rt = _build(Path(tmp), [crm, marketing])
        try:
            _connect(rt, crm, [marketing.role])
            _connect(rt, marketing, [crm.role])
            now = utcnow()

            def confirm_and_edit() -> list[str]:
                notes = []
                for candidate in list_duplicates(rt, TENANT):
                    decide_duplicate(rt, TENANT, candidate.id, same=True, decided_by="demo admin")
                    notes.append(f"an admin confirmed a duplicate ({candidate.rule})")
                for record_id in crm.record_ids()[:10]:
                    crm.update(record_id, {"title": "Staff Engineer"})
                for record_id in marketing.record_ids()[:5]:
                    marketing.update(record_id, {"city": "Amsterdam"})
                notes.append("10 edits in crm, 5 in marketing")
                return notes

            rounds: list[tuple[str, Callable[[], list[str]] | None]] = [
                ("round 1: first sync", None),
                ("round 2: a duplicate confirmed, edits on both sides", confirm_and_edit),
                ("round 3: nothing changed", None),
            ]
            for k, (title, before) in enumerate(rounds):
                notes = before() if before is not None else []
                report = _round(rt, title, now + INTERVAL * k, names, crm, marketing)
                report.notes = notes + report.notes
                reports.append(report)
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
    crm: DemoSystem,
    marketing: DemoSystem,
) -> RoundReport:
    started = time.perf_counter()
    run_scheduler(rt, now=now)
    drained = drain_queues(rt)
    seconds = time.perf_counter() - started
    held = [
        f"held for review: {c.rule} match, score {c.score:.2f}" for c in list_duplicates(rt, TENANT)
    ]
    return RoundReport(
        title=title,
        seconds=seconds,
        rows=_tally(drained.results, names),
        in_lockstep=_in_lockstep(crm, marketing),
        notes=held,
    )


def _print(report: RoundReport, out: TextIO) -> None:
    width = max(len(name) for name in report.rows) + 2
    out.write(f"\n{report.title}  ({report.seconds:.2f} s)\n")
    for note in report.notes:
        out.write(f"  - {note}\n")
    out.write("system".ljust(width) + "".join(c.rjust(9) for c in COLUMNS) + "\n")
    out.write("-" * (width + 9 * len(COLUMNS)) + "\n")
    for name, row in report.rows.items():
        out.write(name.ljust(width) + "".join(str(row[c]).rjust(9) for c in COLUMNS) + "\n")
    verdict = "yes" if report.in_lockstep else "not yet"
    out.write(f"both systems hold the same contacts: {verdict}\n")
