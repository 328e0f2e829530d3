"""docs/performance.md's generated part: what `make bench` rewrites after each run (the date,
the machine, the method and the table), between two markers, leaving the hand-written rest of
the document (history, analysis) as it is. Pure: tests/bench/run_all.py gathers the facts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.bench.figures import Row, markdown_table

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


class MarkersError(ValueError):
    """The document's markers are not one begin followed by one end."""


@dataclass(frozen=True)
class RunFacts:
    """What a reader needs to weigh the figures: when, on what, how loaded, what ran."""

    date: str
    command: str
    commit: str
    events: int
    minutes: float
    machine: str
    load_before: str
    load_after: str
    versions: str
    plaintext: str | None  # how the plaintext stack ran, or None without one
    secured_parts: tuple[str, ...]
    plaintext_parts: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


METHOD = """\
Each part generates its own data (households over the real villages of Lamandau, the four
agencies' mix of grants, trainings and surveys) into fresh databases and a topic prefix of its
own, and runs the services as real processes, each as its own Kafka principal:

- **projection** (`tests/bench/bench_projection.py --events N`): the broker's producer rate; a
  plain aiokafka consumer reading the backlog (raw consume, the limit); the reporting service
  catching up on N events; the naive FastStream peer (one event per transaction); freshness
  at a steady 2,000 events/s for 60 s; the replay command; two reporting instances in one group.
- **http** (`tests/bench/bench_http.py --idempotency-keys both`): registry and interventions
  writes driven by a separate load-generator process, 32 connections in a closed loop:
  register, enrol, interventions on one instance and on two; each write phase without and with
  an `Idempotency-Key` on every write, in three interleaved rounds, the median of each (the
  cost of the keys).
- **http_open** (`bench_http.py --phases writes --rate 1000`): the same writes offered at a
  steady 1,000 req/s per instance (open loop, latency counted from when each request was due).
- **queries** (`tests/bench/bench_queries.py --households N`): each report query's p99 over N
  households.

**Secured and plaintext.** The secured stack is the one `make stack-start` runs (Kafka
SASL_SSL with SCRAM-SHA-512 and ACLs, PostgreSQL over TLS with `sslmode=verify-full` and
SCRAM). For the plaintext column `make bench` starts a second stack of its own on other ports,
with its own cache directory (`GAYARI_STACK_SECURITY=plaintext`: Kafka PLAINTEXT, PostgreSQL
without TLS), the same Kafka version and PostgreSQL binaries, and stops it afterwards. The
parts named below run on both, the same invocation each time, the secured run first and the
plaintext run right after, with both stacks up throughout. **cost %** is how much worse the
secured figure is, in % of the plaintext one (for rates: (plaintext - secured) / plaintext;
for times and sizes: (secured - plaintext) / plaintext); a negative cost is the secured run
doing better, which is noise. **met** judges the secured figure against the performance
issue's target for a 2-core machine (the replay's only at 1,000,000 events).

Each figure comes from one run of its part (the closed-loop HTTP writes: the median of their
rounds). On the project's 2-core machine, shared with other work, runs of the same phase
differ by 20 % and more: compare only figures of the same run, and read a cost within that
band as no measured cost.
Every JSON result is in `artifacts/` (`bench_all.json` holds this table; the plaintext runs'
are under `artifacts/plaintext/`).
"""


def render(rows: Iterable[Row], facts: RunFacts) -> str:
    """The generated section, markers included."""
    parts = [
        BEGIN,
        "<!-- Written by `make bench` (tests/bench/run_all.py); edits between these markers "
        "are overwritten. -->",
        "",
        "## The latest `make bench`",
        "",
        f"- Date: {facts.date}; commit {facts.commit}; took {facts.minutes:.0f} min.",
        f"- Command: `{facts.command}` ({facts.events:,} events and households).",
        f"- Machine: {facts.machine}. Load average (1, 5, 15 min) {facts.load_before} at the "
        f"start, {facts.load_after} at the end.",
        f"- Software: {facts.versions}.",
        f"- Secured stack: {', '.join(facts.secured_parts) or 'nothing'}.",
        (
            f"- Plaintext stack: {', '.join(facts.plaintext_parts) or 'nothing'}; "
            f"{facts.plaintext}."
            if facts.plaintext is not None
            else "- Plaintext stack: not run (`--no-plaintext`)."
        ),
        *(f"- Failed (its figures are missing): {name}." for name in facts.failed),
        *(f"- Note: {note}" for note in facts.notes),
        "",
        "### Method",
        "",
        METHOD.rstrip("\n"),
        "",
        "### Figures",
        "",
        markdown_table(rows).rstrip("\n"),
        END,
    ]
    return "\n".join(parts) + "\n"


def rewrite(document: str, section: str) -> str:
    """The document with `section` in place of what lies between the markers (markers
    included). Without markers the section goes before the first `## ` heading, or at the
    end; markers out of order, or more than one pair, are an error: nothing is guessed."""
    begins, ends = document.count(BEGIN), document.count(END)
    if begins == 0 and ends == 0:
        lines = document.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.startswith("## "):
                return "".join(lines[:i]) + section + "\n" + "".join(lines[i:])
        separator = "" if not document or document.endswith("\n\n") else "\n"
        if document and not document.endswith("\n"):
            separator = "\n\n"
        return document + separator + section
    if begins != 1 or ends != 1:
        raise MarkersError(f"expected one {BEGIN} and one {END}, found {begins} and {ends}")
    start, stop = document.index(BEGIN), document.index(END)
    if stop < start:
        raise MarkersError(f"{END} comes before {BEGIN}")
    after = document[stop + len(END) :]
    return document[:start] + section.rstrip("\n") + after
