"""`make bench`: every benchmark in turn, then one table of each figure against its target.

A benchmark, not a test: nothing here passes or fails CI. Each part writes its own JSON
(artifacts/bench.json, bench_http.json, bench_http_open.json, bench_queries.json); this writes
artifacts/bench_all.json with the table. The HTTP writes run twice: 32 connections in a closed
loop (what an instance can take) and offered at a steady 1,000 req/s per instance (the target);
in the closed loop each write phase runs again with an Idempotency-Key on every write, right
after, on the same services (what the keys cost).
Targets are those of the performance issue, for this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@dataclass(frozen=True)
class Figure:
    measure: str
    value: float | None
    unit: str
    target: str
    met: bool | None


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def figures(
    projection: dict[str, Any],
    http: dict[str, Any],
    queries: dict[str, Any],
    http_open: dict[str, Any] | None = None,
) -> list[Figure]:
    out: list[Figure] = []

    def add(measure: str, value: Any, unit: str, target: str, ok: bool | None) -> None:
        out.append(Figure(measure, None if value is None else float(value), unit, target, ok))

    ours = _get(projection, "projector", "events_per_s")
    raw = _get(projection, "raw_consume", "events_per_s")
    naive = _get(projection, "naive_peer", "events_per_s")
    add("projector catch-up", ours, "events/s", ">= 20000", None if ours is None else ours >= 20000)
    add("raw consume (the limit)", raw, "events/s", "", None)
    add("producer", _get(projection, "producer", "events_per_s"), "events/s", "", None)
    add("naive peer", naive, "events/s", "", None)
    if ours and raw:
        add("projector / raw consume", ours / raw, "ratio", ">= 0.5", ours / raw >= 0.5)
    if ours and naive:
        add("projector / naive peer", ours / naive, "ratio", ">= 10", ours / naive >= 10)
    p99 = _get(projection, "freshness", "p99_ms")
    add("freshness p99 at 2,000 events/s", p99, "ms", "<= 500", None if p99 is None else p99 <= 500)
    add("freshness p50", _get(projection, "freshness", "p50_ms"), "ms", "", None)
    replay = _get(projection, "replay", "seconds")
    events = _get(projection, "events")
    add(
        f"replay of {events or '?'} events",
        replay,
        "s",
        "<= 60 (1M)",
        None if replay is None or events != 1_000_000 else replay <= 60,
    )
    rss = _get(projection, "replay", "reporting_peak_rss_mb")
    add("reporting RSS during replay", rss, "MB", "<= 300", None if rss is None else rss <= 300)
    add("replay command RSS", _get(projection, "replay", "replay_peak_rss_mb"), "MB", "", None)
    pair = _get(projection, "two_instances", "events_per_s")
    add("two reporting instances", pair, "events/s", "", None)
    worst = None
    for name, q in (_get(queries, "queries") or {}).items():
        q99 = _get(q, "p99_ms")
        add(f"query {name} p99", q99, "ms", "<= 50", None if q99 is None else q99 <= 50)
        worst = q99 if worst is None or (q99 is not None and q99 > worst) else worst
    for phase in ("registry_register", "registry_enrol", "interventions_1x", "interventions_2x"):
        rps = _get(http, phase, "requests_per_s")
        hp99 = _get(http, phase, "p99_ms")
        per_instance = rps / 2 if rps is not None and phase.endswith("2x") else rps
        add(
            f"HTTP {phase} req/s",
            rps,
            "req/s",
            ">= 1000 per instance",
            None if per_instance is None else per_instance >= 1000,
        )
        add(f"HTTP {phase} p99", hp99, "ms", "<= 50", None if hp99 is None else hp99 <= 50)
        keyed = _get(http, f"{phase}_keyed", "requests_per_s")
        if keyed is not None:
            add(f"HTTP {phase} with Idempotency-Key req/s", keyed, "req/s", "", None)
            if rps:
                cost = 100 * (1 - keyed / rps)
                add(f"HTTP {phase}: req/s lost to the keys", cost, "%", "<= 10", cost <= 10)
    # The same writes offered at a steady 1,000 req/s per instance (open loop): the target as
    # stated, with latency counted from when each request was due.
    rate = _get(http_open or {}, "settings", "rate_per_instance")
    for phase in ("registry_register", "registry_enrol", "interventions_1x"):
        rps = _get(http_open or {}, phase, "requests_per_s")
        op99 = _get(http_open or {}, phase, "p99_ms")
        if rps is None:
            continue
        offered = f"{rate:,.0f}/s offered" if rate else "open loop"
        # Answered in the window: an open loop that keeps up answers what it was offered.
        met = None if not rate else rps >= 0.99 * rate
        add(f"HTTP {phase} at {offered} req/s", rps, "req/s", ">= 1000", met)
        add(
            f"HTTP {phase} at {offered} p99",
            op99,
            "ms",
            "<= 50",
            None if op99 is None else op99 <= 50,
        )
    return out


def run(label: str, command: list[str]) -> float:
    print(f"\n== {label}: {' '.join(command[2:])}", flush=True)
    began = time.perf_counter()
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        print(f"!! {label} exited {done.returncode}; its figures are missing below")
    return time.perf_counter() - began


def load(name: str) -> dict[str, Any]:
    path = ARTIFACTS / name
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--skip", action="append", default=[], help="projection, http, http_open, queries"
    )
    args = parser.parse_args()
    python = [sys.executable, "-m"]
    parts = {
        "projection": [*python, "tests.bench.bench_projection", "--events", str(args.events)],
        # The writes also with an Idempotency-Key on each, side by side (see bench_http).
        "http": [*python, "tests.bench.bench_http", "--idempotency-keys", "both"],
        "http_open": [
            *python,
            "tests.bench.bench_http",
            "--phases",
            "writes",
            "--rate",
            "1000",
            "--out",
            str(ARTIFACTS / "bench_http_open.json"),
        ],
        "queries": [*python, "tests.bench.bench_queries", "--households", str(args.events)],
    }
    for name, command in parts.items():
        if name not in args.skip:
            (ARTIFACTS / {"projection": "bench.json"}.get(name, f"bench_{name}.json")).unlink(
                missing_ok=True
            )
            run(name, command)
    table = figures(
        load("bench.json"),
        load("bench_http.json"),
        load("bench_queries.json"),
        load("bench_http_open.json"),
    )
    print(f"\n{'measure':<44} {'value':>12} {'unit':<9} {'target':<22} met")
    for f in table:
        value = (
            "-" if f.value is None else f"{f.value:,.2f}" if f.value < 100 else f"{f.value:,.0f}"
        )
        met = {True: "yes", False: "NO", None: ""}[f.met]
        print(f"{f.measure:<44} {value:>12} {f.unit:<9} {f.target:<22} {met}")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bench_all.json").write_text(
        json.dumps([f.__dict__ for f in table], indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
