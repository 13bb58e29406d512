"""Adapter benchmark: prints ONE JSON line of figures per run.

Per adapter, against its provider's fake served on loopback from a child process (so the
fake's own CPU and memory are not counted here):
- `read_per_s` / `write_per_s`: records read (pages of `--page-size`) and created per
  second through the adapter;
- `cpu_us_per_record`: this process's CPU per record through the adapter, beside a bare
  httpx loop making the same requests (same URLs, headers and JSON parsing) in the same
  run, interleaved; `overhead_pct` is the toolkit's cost over the bare loop (goal <= 25);
- `peak_rss_mb`: this process's peak RSS after paging through `--sizes` records in turn
  (pages are streamed: it should stay flat from 10k to 100k).

    .venv/bin/python bench/adapters.py [--sizes 10000,100000] [--writes 2000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.sandbox import SandboxAdapter  # noqa: E402
from adapters.sandbox_server import SandboxAccount, SandboxServer  # noqa: E402
from tests.harness.sandbox import SteppingClock, contact, sandbox_connection  # noqa: E402

API_KEY = "bench-key"


def _serve(records: int, pipe: Pipe) -> None:
    account = SandboxAccount(
        name="bench", api_key=API_KEY, clock=SteppingClock(), rate_limit_per_second=10**9
    )
    for i in range(records):
        account.create("contacts", contact(i))
    with SandboxServer(account) as server:
        pipe.send(server.base_url)
        pipe.recv()  # until the parent is done


class Fake:
    """A sandbox with `records` contacts in a child process, on loopback."""

    def __init__(self, records: int) -> None:
        self._pipe, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(target=_serve, args=(records, child), daemon=True)

    def __enter__(self) -> str:
        self._process.start()
        url: str = self._pipe.recv()
        return url

    def __exit__(self, *exc: object) -> None:
        self._pipe.send("done")
        self._process.join(timeout=10)


def _client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"})


def _adapter(base_url: str) -> SandboxAdapter:
    return SandboxAdapter(sandbox_connection("bench", base_url), client=_client(base_url))


def toolkit_read(adapter: SandboxAdapter, page_size: int) -> int:
    count, cursor = 0, None
    while True:
        page = adapter.read_changes("contact", cursor, page_size=page_size)
        count += len(page.changes)
        cursor = page.cursor
        if not page.has_more:
            return count


def bare_read(client: httpx.Client, page_size: int) -> int:
    count, params = 0, {"limit": page_size}
    while True:
        body = client.get("/v1/objects/contacts", params=params).json()
        count += len(body["results"])
        if body["paging"] is None:
            return count
        params = {"limit": page_size, **body["paging"]["next"]}


def toolkit_write(adapter: SandboxAdapter, n: int, offset: int) -> int:
    for i in range(n):
        adapter.write("contact", None, contact(offset + i), idempotency_key=f"t{offset + i}")
    return n


def bare_write(client: httpx.Client, n: int, offset: int) -> int:
    for i in range(n):
        response = client.post(
            "/v1/objects/contacts",
            json={"properties": contact(offset + i)},
            headers={"Idempotency-Key": f"b{offset + i}"},
        )
        response.raise_for_status()
        response.json()
    return n


def _measure(fn: Callable[[], int]) -> tuple[int, float, float]:
    """(records, wall seconds, this process's CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn()
    return n, time.perf_counter() - wall, time.process_time() - cpu


def _compare(
    toolkit: Callable[[int], int], bare: Callable[[int], int], rounds: int
) -> dict[str, Any]:
    """Interleaved rounds; the best round of each (least disturbed by the shared machine)."""
    best: dict[str, tuple[float, float]] = {}
    for k in range(rounds):
        for name, fn in (("toolkit", toolkit), ("bare", bare)):
            n, wall, cpu = _measure(lambda fn=fn, k=k: fn(k))
            per = (wall / n, cpu / n)
            if name not in best or per[1] < best[name][1]:
                best[name] = per
    tool_cpu, bare_cpu = best["toolkit"][1], best["bare"][1]
    return {
        "per_s": round(1 / best["toolkit"][0], 1),
        "bare_per_s": round(1 / best["bare"][0], 1),
        "cpu_us_per_record": {
            "toolkit": round(tool_cpu * 1e6, 1),
            "bare": round(bare_cpu * 1e6, 1),
            "overhead_pct": round((tool_cpu / bare_cpu - 1) * 100, 1),
        },
    }


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--speed-records", type=int, default=5000)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    # Clients are made before timing: both sides then pay for requests, not TLS set-up.
    with Fake(args.speed_records) as url, _adapter(url) as adapter, _client(url) as client:
        reads = _compare(
            lambda k: toolkit_read(adapter, args.page_size),
            lambda k: bare_read(client, args.page_size),
            args.rounds,
        )
        writes = _compare(
            lambda k: toolkit_write(adapter, args.writes, k * args.writes),
            lambda k: bare_write(client, args.writes, k * args.writes),
            args.rounds,
        )
    rss: dict[str, float] = {"start": _peak_rss_mb()}
    for size in (int(s) for s in args.sizes.split(",")):
        with Fake(size) as url, _adapter(url) as adapter:
            read = toolkit_read(adapter, args.page_size)
        assert read == size, f"read {read} of {size}"
        rss[str(size)] = _peak_rss_mb()
    figures = {
        "adapter": "sandbox",
        "read": reads,
        "write": writes,
        "peak_rss_mb": rss,
        "page_size": args.page_size,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
