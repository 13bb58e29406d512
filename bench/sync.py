"""Sync engine benchmark (issue 4): prints ONE JSON line of figures.

For each backend and each size N, the whole inbound engine (`process_inbound`: map to
canonical, match, resolve, store entities and links, enqueue pushes) is fed WEBHOOK
messages of 100 sandbox contacts each (the sandbox's own field names), in three passes:
- "create": N new contacts from system A (each one also goes through duplicate matching);
- "update": 20% of them again from A, one to three fields edited (a three-way resolve
  against the stored base, then an etag-guarded entity and link update);
- "twin": 10% of the same people from system B (same email and name, phone written
  differently, sometimes another title): matching finds the hub entity and merges into it.
Records/s counts all passes together (N * 1.3 records); `passes` has each one separately.

Backends: `sqlite` is the embedded store as Lockstep runs it by default (a SQLite file in
WAL mode, every write committed to disk; here in a temporary directory on the disk that
holds the system's temp dir); `sqlite_memory` is SQLite in memory, the tests'
configuration, where a store call costs microseconds of Python and no disk; `cosmos` is
the Cosmos DB emulator on a fresh database, dropped afterwards.

The store is wrapped in a recording proxy while the engine runs; after each message, the
calls it made are replayed in order against a second, fresh store of the same backend with
no engine around them (interleaved, so both see the same load on a shared machine).
`ratio` = engine throughput / store-only throughput (the share of engine time that is
store work; the goal is >= 0.5). `linearity` = per-record cost at the largest completed
size divided by the per-record cost at the smallest (1.0 is linear);
`create_cost_growth_in_largest_run` = per-record cost of the last tenth of the create
pass over that of its first tenth (1.0 when a create does not get dearer as the hub grows).

To keep a run short on a small machine, a pass stops taking pages after
`--max-pass-seconds` (engine and replay time together); that size is then reported with
`"completed": false` and the records it did get through, and larger sizes of that backend
are not run. The emulator's endpoint comes from `.local-stack/env` (COSMOS_ENDPOINT etc.
in the environment override it); when it does not answer, the cosmos figures are null
with the reason.

    .venv/bin/python bench/sync.py [--sizes 1000,10000,100000] [--cosmos-sizes 1000,5000]
                                   [--cosmos | --no-cosmos] [--no-sqlite-memory]
                                   [--max-pass-seconds 45]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.sandbox_server import SandboxAccount, in_process_transports  # noqa: E402
from bench._sync_support import (  # noqa: E402
    RecordingStore,
    Replayer,
    ReplayStats,
    contact_changes,
    twin_changes,
    updated_changes,
)
from integration_core.connectors import Connectors  # noqa: E402
from integration_core.credentials.local import LocalSecretStore  # noqa: E402
from integration_core.credentials.service import CredentialService  # noqa: E402
from integration_core.errors import LockstepError  # noqa: E402
from integration_core.messaging import OUTBOUND_QUEUE  # noqa: E402
from integration_core.messaging.inline import InlineMessageQueue  # noqa: E402
from integration_core.models import (  # noqa: E402
    Change,
    MessageKind,
    SyncMessage,
    SyncTask,
    deterministic_id,
)
from integration_core.pipelines.inbound import process_inbound  # noqa: E402
from integration_core.runtime import Runtime, build_runtime  # noqa: E402
from integration_core.settings import load_settings  # noqa: E402
from integration_core.storage import DocumentStore  # noqa: E402
from tests.conftest import LocalStack, load_local_stack, unique_name  # noqa: E402
from tests.harness.embedded import connect_sandbox  # noqa: E402

TENANT = "t-bench"
SOURCE = "crm-a"
TARGET = "crm-b"
PAGE = 100
UPDATE_SHARE = 0.2
TWIN_SHARE = 0.1
WARM_UP = 300  # records run, untimed, before the first measured size
# SyncResult counters summed per pass ("linked": matched to an entity from another system).
_OUTCOMES = ("created", "updated", "linked", "unchanged")


@dataclass
class Backend:
    name: str
    settings: Callable[[], dict[str, object]]  # a new database each call
    fresh_store: Callable[[], DocumentStore]  # for the replay
    cleanup: Callable[[DocumentStore], None]


def _messages(changes: Sequence[Change], *, task: SyncTask, run: str) -> list[SyncMessage]:
    messages = []
    for start in range(0, len(changes), PAGE):
        page = changes[start : start + PAGE]
        messages.append(
            SyncMessage(
                message_id=deterministic_id("bench", run, str(start)),
                tenant_id=task.tenant_id,
                connection_id=task.connection_id,
                kind=MessageKind.WEBHOOK,
                correlation_id=f"bench-{run}",
                payload={
                    "task_id": task.id,
                    "changes": [change.model_dump(mode="json") for change in page],
                },
            )
        )
    return messages


def _recording_runtime(
    settings: dict[str, object], secrets_dir: Path, sandboxes: dict[str, SandboxAccount]
) -> tuple[Runtime, RecordingStore, CredentialService]:
    """The runtime build_runtime makes, with every store access going through a recorder."""
    base = build_runtime(
        load_settings(
            **{
                "queue_backend": "inline",
                "secret_backend": "local",
                "local_secrets_path": str(secrets_dir / "secrets.enc"),
                "local_secrets_key": LocalSecretStore.generate_key(),
                "redis_url": None,
                **settings,
            }
        ),
        transports=in_process_transports(sandboxes.values()),
    )
    recorder = RecordingStore(base.store)
    credentials = CredentialService(recorder, base.secrets)
    runtime = replace(
        base,
        store=recorder,
        credentials=credentials,
        connectors=Connectors(credentials, transports=in_process_transports(sandboxes.values())),
    )
    return runtime, recorder, credentials


@dataclass
class _Pass:
    """One engine pass: how far it got in its time limit, what it cost, and the replay."""

    store: ReplayStats = field(default_factory=ReplayStats)
    records: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    completed: bool = True
    first_tenth_us: float | None = None  # per-record cost of the first 10% of pages run
    last_tenth_us: float | None = None  # ... and of the last 10%: equal when cost is linear
    totals: dict[str, int] = field(default_factory=dict)


def _run_pass(
    rt: Runtime,
    messages: Sequence[SyncMessage],
    recorder: RecordingStore,
    replayer: Replayer,
    *,
    max_seconds: float,
) -> _Pass:
    """Feed `messages` to the engine; after each one, replay its store calls on their own.

    Interleaving page by page exposes both to the same load on a shared machine.
    """
    figures = _Pass(totals=dict.fromkeys([*_OUTCOMES, "errors"], 0))
    pages: list[tuple[int, float]] = []
    gc.collect()
    clock, cpu_clock = time.perf_counter, time.process_time
    started = clock()
    for message in messages:
        if clock() - started > max_seconds:
            figures.completed = False
            break
        wall, cpu = clock(), cpu_clock()
        result = process_inbound(rt, message)
        seconds = clock() - wall
        figures.cpu_seconds += cpu_clock() - cpu
        pages.append((result.records_read, seconds))
        replayer.run(recorder.take(), figures.store)
        for outcome in _OUTCOMES:
            figures.totals[outcome] += getattr(result, outcome, 0)
        figures.totals["errors"] += len(result.errors)
    figures.records = sum(records for records, _ in pages)
    figures.seconds = sum(seconds for _, seconds in pages)
    tenth = max(1, len(pages) // 10)
    if pages:
        figures.first_tenth_us = _per_record_us(pages[:tenth])
        figures.last_tenth_us = _per_record_us(pages[-tenth:])
    return figures


def _per_record_us(pages: Sequence[tuple[int, float]]) -> float:
    records = sum(count for count, _ in pages)
    return round(sum(seconds for _, seconds in pages) / max(records, 1) * 1e6, 1)


def _rate(count: int, seconds: float) -> float | None:
    return round(count / seconds, 1) if seconds > 0 else None


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 3) if whole > 0 else None


def _pass_figures(engine: _Pass) -> dict[str, Any]:
    return {
        "records": engine.records,
        "completed": engine.completed,
        "engine_seconds": round(engine.seconds, 3),
        "engine_records_per_s": _rate(engine.records, engine.seconds),
        "store_only_seconds": round(engine.store.seconds, 3),
        "store_only_records_per_s": _rate(engine.records, engine.store.seconds),
        "ratio": _share(engine.store.seconds, engine.seconds),
        "first_tenth_us_per_record": engine.first_tenth_us,
        "last_tenth_us_per_record": engine.last_tenth_us,
        "outcome": engine.totals,
    }


def run_size(backend: Backend, size: int, *, max_pass_seconds: float) -> dict[str, Any]:
    source = SandboxAccount(name="source", api_key=unique_name("key-"))
    other = SandboxAccount(name="other", api_key=unique_name("key-"))
    creates = list(contact_changes(size, seed=size, prefix="a"))
    passes: dict[str, _Pass] = {}
    replay_store = backend.fresh_store()
    replayer = Replayer(replay_store)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rt, recorder, credentials = _recording_runtime(
                backend.settings(), Path(tmp), {source.name: source, other.name: other}
            )
            try:
                task = connect_sandbox(rt, SOURCE, source, tenant_id=TENANT, targets=(TARGET,))
                twin_task = connect_sandbox(rt, TARGET, other, tenant_id=TENANT, targets=(SOURCE,))
                replayer.run(recorder.take(), ReplayStats())  # the setup, untimed

                def feed(name: str, changes: Sequence[Change], to: SyncTask) -> None:
                    messages = _messages(changes, task=to, run=f"{name}-{size}")
                    passes[name] = _run_pass(
                        rt, messages, recorder, replayer, max_seconds=max_pass_seconds
                    )

                feed("create", creates, task)
                # Later passes touch only records the first pass got to store.
                stored = creates[: passes["create"].records]
                feed(
                    "update",
                    updated_changes(stored, share=UPDATE_SHARE, seed=size, later=timedelta(1)),
                    task,
                )
                feed(
                    "twin",
                    twin_changes(
                        stored, share=TWIN_SHARE, seed=size, later=timedelta(2), prefix="b"
                    ),
                    twin_task,
                )
                queue = rt.queue
                pushes = (
                    queue.depth(OUTBOUND_QUEUE) if isinstance(queue, InlineMessageQueue) else None
                )
            finally:
                credentials.close()
                backend.cleanup(recorder.inner)
                rt.close()
    finally:
        backend.cleanup(replay_store)
    records = sum(p.records for p in passes.values())
    engine_s = sum(p.seconds for p in passes.values())
    engine_cpu = sum(p.cpu_seconds for p in passes.values())
    store = ReplayStats()
    for one in passes.values():
        store = store.merged(one.store)
    return {
        "completed": all(p.completed for p in passes.values()),
        "records": records,
        "engine": {
            "seconds": round(engine_s, 3),
            "cpu_seconds": round(engine_cpu, 3),
            "records_per_s": _rate(records, engine_s),
            "us_per_record": round(engine_s / max(records, 1) * 1e6, 1),
            "own_us_per_record": round((engine_s - store.seconds) / max(records, 1) * 1e6, 1),
            "pushes_enqueued": pushes,
        },
        "store_only": {
            "seconds": round(store.seconds, 3),
            "cpu_seconds": round(store.cpu_seconds, 3),
            "calls": store.calls,
            "calls_per_record": round(store.calls / max(records, 1), 2),
            "ops_per_s": _rate(store.calls, store.seconds),
            "records_per_s": _rate(records, store.seconds),
            "outcome_mismatches": store.mismatches,
            # method:container -> [calls, share of store-only time, microseconds per call]
            "by_kind": {
                kind: [int(count), _share(seconds, store.seconds), round(seconds / count * 1e6, 1)]
                for kind, (count, seconds) in sorted(
                    store.by_kind.items(), key=lambda item: -item[1][1]
                )
            },
        },
        "ratio": _share(store.seconds, engine_s),
        # For the in-process backend, CPU time is less sensitive to other load on the machine.
        "ratio_cpu": _share(store.cpu_seconds, engine_cpu),
        "passes": {name: _pass_figures(one) for name, one in passes.items()},
    }


def run_backend(
    backend: Backend, sizes: Sequence[int], *, max_pass_seconds: float
) -> dict[str, Any]:
    by_size: dict[str, Any] = {}
    for size in sizes:
        earlier = [figures for figures in by_size.values() if isinstance(figures, dict)]
        if earlier and not earlier[-1]["completed"]:
            by_size[str(size)] = (
                f"not run: a smaller size already hit the {max_pass_seconds:g} s per-pass limit"
            )
            continue
        by_size[str(size)] = run_size(backend, size, max_pass_seconds=max_pass_seconds)
    ran = [(size, by_size[str(size)]) for size in sizes if isinstance(by_size[str(size)], dict)]
    figures: dict[str, Any] = {"sizes": by_size}
    figures["scaling"] = {
        str(size): {
            "completed": run["completed"],
            "records": run["records"],
            "seconds": run["engine"]["seconds"],
            "us_per_record": run["engine"]["us_per_record"],
        }
        for size, run in ran
    }
    done = [run for _, run in ran if run["completed"]]
    figures["linearity"] = (
        round(done[-1]["engine"]["us_per_record"] / done[0]["engine"]["us_per_record"], 2)
        if len(done) > 1
        else None
    )
    figures["linearity_sizes"] = [run["records"] for run in done[:: max(len(done) - 1, 1)]]
    # Within one run: how much dearer a create is at the end of the pass than at its start
    # (the hub grows from 0 to N entities meanwhile; 1.0 when cost does not depend on N).
    last = ran[-1][1]["passes"]["create"] if ran else None
    figures["create_cost_growth_in_largest_run"] = (
        round(last["last_tenth_us_per_record"] / last["first_tenth_us_per_record"], 2)
        if last and last["first_tenth_us_per_record"]
        else None
    )
    return figures


def sqlite_backend(directory: Path | None) -> Backend:
    """The embedded store as it runs by default: a WAL-mode SQLite file, one per store, in
    `directory`; with None, SQLite in memory (what tests use: no disk under the store).
    """
    from integration_core.storage.sqlite import SqliteDocumentStore

    files = itertools.count(1)

    def path() -> str:
        return ":memory:" if directory is None else str(directory / f"store-{next(files)}.db")

    def close(store: DocumentStore) -> None:
        if isinstance(store, SqliteDocumentStore):
            store.close()

    return Backend(
        name="sqlite" if directory is not None else "sqlite_memory",
        settings=lambda: {"store_backend": "sqlite", "sqlite_path": path()},
        fresh_store=lambda: SqliteDocumentStore(path()),
        cleanup=close,
    )


def cosmos_backend(stack: LocalStack) -> Backend:
    from integration_core.storage.cosmos import CosmosDocumentStore

    def fresh() -> DocumentStore:
        return CosmosDocumentStore(
            stack.cosmos_endpoint,
            stack.cosmos_key,
            database=unique_name("lockstep-bench-"),
            ca_file=stack.cosmos_ca_file,
            verify_tls=stack.cosmos_verify_tls,
        )

    def drop(store: DocumentStore) -> None:
        if isinstance(store, CosmosDocumentStore):
            store.drop_database()
            store.close()

    settings: dict[str, object] = {
        "store_backend": "cosmos",
        "cosmos_endpoint": stack.cosmos_endpoint,
        "cosmos_key": stack.cosmos_key,
        "cosmos_ca_file": stack.cosmos_ca_file,
        "cosmos_verify_tls": stack.cosmos_verify_tls,
    }

    return Backend(
        name="cosmos",
        settings=lambda: {**settings, "cosmos_database": unique_name("lockstep-bench-")},
        fresh_store=fresh,
        cleanup=drop,
    )


def cosmos_unavailable(stack: LocalStack) -> str | None:
    """Why the emulator cannot be used, or None when it answers."""
    parsed = urlparse(stack.cosmos_endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "localhost", port), timeout=2).close()
    except OSError as err:
        return f"Cosmos emulator not reachable at {stack.cosmos_endpoint}: {err}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--cosmos-sizes", default="1000,5000")
    parser.add_argument("--cosmos", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--sqlite-memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run SQLite in memory (the tests' configuration) as `sqlite_memory`",
    )
    parser.add_argument(
        "--max-pass-seconds",
        type=float,
        default=45.0,
        help="stop feeding a pass after this long (the run is reported as not completed)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    cosmos_sizes = [int(s) for s in args.cosmos_sizes.split(",") if s]
    started = time.perf_counter()
    # Untimed: the first records pay for imports, metadata loading and cold caches, which a
    # long-running worker pays once.
    run_size(sqlite_backend(None), WARM_UP, max_pass_seconds=args.max_pass_seconds)
    with tempfile.TemporaryDirectory(prefix="lockstep-bench-") as directory:
        embedded = run_backend(
            sqlite_backend(Path(directory)), sizes, max_pass_seconds=args.max_pass_seconds
        )
    figures: dict[str, Any] = {
        "bench": "sync",
        "counted": f"records = creates + updates ({UPDATE_SHARE:.0%} of creates) + twins"
        f" from a second system ({TWIN_SHARE:.0%}); WEBHOOK pages of {PAGE};"
        " ratio = engine records/s / store-only records/s (wall time)",
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "max_pass_seconds": args.max_pass_seconds,
        "sqlite": embedded,
        "sqlite_memory": (
            run_backend(sqlite_backend(None), sizes, max_pass_seconds=args.max_pass_seconds)
            if args.sqlite_memory
            else None
        ),
        "cosmos": None,
        "cosmos_reason": None,
    }
    if not args.cosmos:
        figures["cosmos_reason"] = "skipped (--no-cosmos)"
    else:
        stack = load_local_stack()
        reason = cosmos_unavailable(stack)
        if reason is None:
            try:
                figures["cosmos"] = run_backend(
                    cosmos_backend(stack), cosmos_sizes, max_pass_seconds=args.max_pass_seconds
                )
            except LockstepError as err:
                reason = f"{type(err).__name__}: {err}"
        figures["cosmos_reason"] = reason
    figures["total_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
