"""The figures of a `make bench` run: each against its target, and the secured stack's beside
the plaintext stack's with what security costs. Pure: the JSON the benchmarks wrote goes in,
rows and tables come out (tests/bench/run_all.py runs the benchmarks)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Units where more is better; in the others (ms, s, MB) less is. A percentage is already a
# comparison: it gets no cost of its own.
HIGHER_IS_BETTER = frozenset({"events/s", "req/s", "rows/s", "ratio"})
LOWER_IS_BETTER = frozenset({"ms", "s", "MB"})


@dataclass(frozen=True)
class Figure:
    measure: str
    value: float | None
    unit: str
    target: str
    met: bool | None


@dataclass(frozen=True)
class Row:
    """One measure on both stacks. `met` is the secured figure's: the stack as deployed."""

    measure: str
    unit: str
    target: str
    secured: float | None
    plaintext: float | None
    cost_percent: float | None
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
    *,
    spreadsheet: dict[str, Any] | None = None,
) -> list[Figure]:
    """Every figure of the benchmarks' JSON (bench.json, bench_http.json, bench_queries.json,
    bench_http_open.json, bench_import.json) against its target, in the order of the table. A
    part that did not run ({}) adds only rows without a value."""
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
    for name, q in (_get(queries, "queries") or {}).items():
        q99 = _get(q, "p99_ms")
        add(f"query {name} p99", q99, "ms", "<= 50", None if q99 is None else q99 <= 50)
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
    # An agency's grants spreadsheet, uploaded until reporting counts every row (bench_import).
    imported = spreadsheet or {}
    rows = _get(imported, "rows")
    if rows is not None:
        for phase, label in (
            ("end_to_end", "end to end"),
            ("upload", "answered"),
            ("again", "again"),
        ):
            value = _get(imported, phase, "rows_per_s")
            add(f"spreadsheet import of {rows:,} rows, {label}", value, "rows/s", "", None)
    return out


def cost_percent(unit: str, secured: float | None, plaintext: float | None) -> float | None:
    """How much worse the secured figure is than the plaintext one, in % of the plaintext one
    (negative: better). None when either is missing or the unit has no direction."""
    if secured is None or not plaintext:
        return None
    if unit in HIGHER_IS_BETTER:
        return 100 * (plaintext - secured) / plaintext
    if unit in LOWER_IS_BETTER:
        return 100 * (secured - plaintext) / plaintext
    return None


def side_by_side(secured: Iterable[Figure], plaintext: Iterable[Figure]) -> list[Row]:
    """One row per measure, in the secured table's order, then any measure only the plaintext
    run has. A measure the plaintext run did not take has no plaintext figure and no cost."""
    plain = {f.measure: f for f in plaintext if f.value is not None}
    rows: list[Row] = []
    seen: set[str] = set()
    for f in secured:
        other = plain.get(f.measure)
        value = None if other is None else other.value
        rows.append(
            Row(
                f.measure,
                f.unit,
                f.target,
                f.value,
                value,
                cost_percent(f.unit, f.value, value),
                f.met,
            )
        )
        seen.add(f.measure)
    for measure, f in plain.items():
        if measure not in seen:
            rows.append(Row(measure, f.unit, f.target, None, f.value, None, None))
    return rows


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.1f}"


MET = {True: "yes", False: "NO", None: ""}
COLUMNS = ("measure", "unit", "target", "secured", "plaintext", "cost %", "met")


def cells(row: Row) -> tuple[str, ...]:
    return (
        row.measure,
        row.unit,
        row.target,
        number(row.secured),
        number(row.plaintext),
        signed(row.cost_percent),
        MET[row.met],
    )


def text_table(rows: Iterable[Row]) -> str:
    """For the terminal: columns padded, numbers right-aligned."""
    body = [COLUMNS, *(cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in body) for i in range(len(COLUMNS))]
    right = {3, 4, 5}
    lines = [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ).rstrip()
        for line in body
    ]
    return "\n".join(lines) + "\n"


def markdown_table(rows: Iterable[Row]) -> str:
    def escape(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|---|---|---|--:|--:|--:|---|",
        *("| " + " | ".join(escape(c) for c in cells(r)) + " |" for r in rows),
    ]
    return "\n".join(lines) + "\n"
