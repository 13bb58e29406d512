"""Entity matching benchmark (issue 5): accuracy on FEBRL, speed, and scaling.

Prints one JSON line. Run: `.venv/bin/python -m bench.dedup` (about a minute;
`--quick` skips the 100k runs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from typing import Any

from bench import _febrl
from integration_core.dedup import Matcher


def _dedup_figures(name: str) -> dict[str, Any]:
    records, truth = _febrl.load(name)
    matcher = Matcher.for_entity("contact")
    found = matcher.find_duplicates(records)
    figures: dict[str, Any] = _febrl.evaluate(((m.left_id, m.right_id) for m in found), truth)
    figures.update(
        records=len(records),
        comparisons=matcher.last_run.comparisons,
        seconds=round(matcher.last_run.seconds, 3),
    )
    return figures


def _link_figures() -> dict[str, Any]:
    left, right, truth = _febrl.load_link()
    matcher = Matcher.for_entity("contact")
    found = matcher.link(left, right)
    figures: dict[str, Any] = _febrl.evaluate(((m.left_id, m.right_id) for m in found), truth)
    # Linkage of two deduplicated files: keep each record's best partner only.
    best: dict[str, tuple[str, str]] = {}
    taken: set[str] = set()
    for m in found:  # best first
        if m.left_id not in best and m.right_id not in taken:
            best[m.left_id] = (m.left_id, m.right_id)
            taken.add(m.right_id)
    one_to_one = _febrl.evaluate(best.values(), truth)
    figures.update(
        f1_one_to_one=one_to_one["f1"],
        comparisons=matcher.last_run.comparisons,
        seconds=round(matcher.last_run.seconds, 3),
    )
    return figures


def _speed_5000(repeats: int) -> dict[str, Any]:
    records, _ = _febrl.load("febrl3")
    runs = []
    cpu = []
    for _ in range(repeats):
        matcher = Matcher.for_entity("contact")  # fresh matcher: no normalization memo
        started, started_cpu = time.perf_counter(), time.process_time()
        matcher.find_duplicates(records)
        runs.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return {
        "records": len(records),
        "seconds_median": round(statistics.median(runs), 3),
        "seconds_first": round(runs[0], 3),
        "cpu_seconds_median": round(statistics.median(cpu), 3),
    }


def _scaling(sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for size in sizes:
        records = _febrl.synthetic(size, seed=size)
        matcher = Matcher.for_entity("contact")
        started, started_cpu = time.perf_counter(), time.process_time()
        found = matcher.find_duplicates(records)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - started_cpu
        quality = _febrl.evaluate(
            ((m.left_id, m.right_id) for m in found), _febrl.true_pairs(records)
        )
        out[str(size)] = {
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "comparisons": matcher.last_run.comparisons,
            "comparisons_per_record": round(matcher.last_run.comparisons / size, 2),
            "oversized_blocks": matcher.last_run.oversized_blocks,
            "f1": quality["f1"],
        }
    small, large = str(sizes[0]), str(sizes[-1])
    factor = sizes[-1] / sizes[0]
    out["time_ratio_per_size_ratio"] = round(
        out[large]["seconds"] / out[small]["seconds"] / factor, 3
    )
    out["cpu_ratio_per_size_ratio"] = round(
        out[large]["cpu_seconds"] / out[small]["cpu_seconds"] / factor, 3
    )
    out["comparison_ratio_per_size_ratio"] = round(
        out[large]["comparisons"] / out[small]["comparisons"] / factor, 3
    )
    return out


def _match_latency(size: int, probes: int) -> dict[str, Any]:
    records = _febrl.synthetic(size + probes, seed=99)
    rng = random.Random(5)
    rng.shuffle(records)
    indexed, incoming = records[:size], records[size:]
    matcher = Matcher.for_entity("contact")
    started = time.perf_counter()
    matcher.index(indexed)
    index_seconds = time.perf_counter() - started
    latencies = []
    candidates = []
    for record in incoming:
        started = time.perf_counter()
        matcher.match({**record, "id": f"in-{record['id']}"})
        latencies.append((time.perf_counter() - started) * 1000)
        candidates.append(matcher.last_run.comparisons)
    latencies.sort()
    return {
        "indexed": size,
        "index_seconds": round(index_seconds, 3),
        "probes": probes,
        "median_ms": round(statistics.median(latencies), 3),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)], 3),
        "median_candidates": statistics.median(candidates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 100k runs")
    args = parser.parse_args()
    big = 10_000 if args.quick else 100_000
    figures: dict[str, Any] = {"bench": "dedup", "load_average_1m": os.getloadavg()[0]}
    for name in ("febrl1", "febrl2", "febrl3"):
        figures[name] = _dedup_figures(name)
    figures["febrl4_link"] = _link_figures()
    figures["dedup_5000"] = _speed_5000(repeats=5)
    figures["scaling"] = _scaling([10_000, big] if big > 10_000 else [2_000, 10_000])
    figures["match_one"] = _match_latency(big, probes=500)
    figures["load_average_1m_end"] = os.getloadavg()[0]
    print(json.dumps(figures, separators=(",", ":")))


if __name__ == "__main__":
    main()
