"""`make bench`: every benchmark in turn on the secured stack, the projection and the HTTP
writes also on a plaintext stack, then one table of each figure against its target with the
secured and plaintext figures side by side and what security costs.

A benchmark, not a test: nothing here passes or fails CI. Each part writes its own JSON
(artifacts/bench.json, bench_http.json, bench_http_open.json, bench_queries.json; the plaintext
runs' under artifacts/plaintext/); this writes artifacts/bench_all.json with the table and, with
`--doc`, the generated section of docs/performance.md (method, machine, date, table).

The plaintext stack is a second one (tests/bench/plaintext_stack.py) on other ports with a
cache directory of its own, started before the first part and stopped after the last, also on
failure or Ctrl-C: the secured stack is never touched. `--no-plaintext` skips it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from tests.bench.figures import Figure, figures, side_by_side, text_table
from tests.bench.performance_doc import RunFacts, render, rewrite
from tests.bench.plaintext_stack import PlaintextStack, running_pg_bin_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"
PARTS = ("projection", "http", "http_open", "queries", "import")
# What item 7 of the security issue compares: the projector's and the HTTP writes' figures.
PLAINTEXT_PARTS = ("projection", "http")
OUTPUTS = {
    "projection": "bench.json",
    "http": "bench_http.json",
    "http_open": "bench_http_open.json",
    "queries": "bench_queries.json",
    "import": "bench_import.json",
}


def commands(events: int, out: Path) -> dict[str, list[str]]:
    """Each part's invocation, writing its JSON into `out`."""
    python = [sys.executable, "-m"]
    return {
        "projection": [
            *python,
            "tests.bench.bench_projection",
            "--events",
            str(events),
            "--out",
            str(out / OUTPUTS["projection"]),
        ],
        # The writes also with an Idempotency-Key on each, side by side (see bench_http).
        "http": [
            *python,
            "tests.bench.bench_http",
            "--idempotency-keys",
            "both",
            "--out",
            str(out / OUTPUTS["http"]),
        ],
        "http_open": [
            *python,
            "tests.bench.bench_http",
            "--phases",
            "writes",
            "--rate",
            "1000",
            "--out",
            str(out / OUTPUTS["http_open"]),
        ],
        "queries": [
            *python,
            "tests.bench.bench_queries",
            "--households",
            str(events),
            "--output",
            str(out / OUTPUTS["queries"]),
        ],
        # A 10,000-row grants spreadsheet until reporting counts it (see bench_import).
        "import": [*python, "tests.bench.bench_import", "--out", str(out / OUTPUTS["import"])],
    }


def run(label: str, command: list[str], env: Mapping[str, str] | None = None) -> bool:
    print(f"\n== {label}: {' '.join(command[2:])}", flush=True)
    with subprocess.Popen(command, env=env) as child:
        try:
            code = child.wait()
        except BaseException as stopped:
            # Stopped ourselves: the child interrupted too (Ctrl-C reached it already), so
            # that it stops the services and databases it started, then killed if it hangs.
            if not isinstance(stopped, KeyboardInterrupt):
                child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
            raise
    if code != 0:
        print(f"!! {label} exited {code}; its figures are missing below", flush=True)
    return code == 0


def load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def table_of(directory: Path) -> list[Figure]:
    return figures(
        load(directory / OUTPUTS["projection"]),
        load(directory / OUTPUTS["http"]),
        load(directory / OUTPUTS["queries"]),
        load(directory / OUTPUTS["http_open"]),
        spreadsheet=load(directory / OUTPUTS["import"]),
    )


# --------------------------------------------------------------------------- machine facts


def _output(*command: str) -> str:
    with contextlib.suppress(OSError):
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
        return done.stdout.strip()
    return ""


def load_average() -> str:
    with contextlib.suppress(OSError):
        return ", ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def machine() -> str:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GB"
    return f"{model}, {os.cpu_count()} cores, {memory}, {platform.system()} {platform.release()}"


def versions(pg_bin_dir: Path | None) -> str:
    postgres = _output(str(pg_bin_dir / "postgres"), "--version") if pg_bin_dir else ""
    kafka = os.environ.get("GAYARI_KAFKA_VERSION") or "4.1.1"
    return (
        f"Python {platform.python_version()}, Kafka {kafka}, "
        f"{postgres.replace('postgres (PostgreSQL) ', 'PostgreSQL ') or 'PostgreSQL ?'}"
    )


def commit(document: Path) -> str:
    """HEAD, and whether the code differs from it (the document this run rewrites aside)."""
    head = _output("git", "rev-parse", "--short", "HEAD") or "?"
    aside = []
    with contextlib.suppress(ValueError):  # a document outside the repository: nothing aside
        aside = [f":(top,exclude){document.resolve().relative_to(REPO_ROOT)}"]
    dirty = _output("git", "status", "--porcelain", "--untracked-files=no", "--", ".", *aside)
    return f"{head} with uncommitted changes" if dirty else head


# --------------------------------------------------------------------------- the run


@contextlib.contextmanager
def terminated_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the plaintext stack is stopped then too."""

    def leave(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def without_notes(argv: list[str] | None) -> list[str]:
    """The arguments as given, but the notes: the document shows them on their own."""
    given = sys.argv[1:] if argv is None else argv
    kept: list[str] = []
    skip_next = False
    for arg in given:
        if skip_next:
            skip_next = False
        elif arg == "--note":
            skip_next = True
        elif not arg.startswith("--note="):
            kept.append(arg)
    return kept


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--skip", action="append", default=[], choices=PARTS, help="a part")
    parser.add_argument(
        "--no-plaintext", action="store_true", help="the secured stack only (a quicker run)"
    )
    parser.add_argument(
        "--plaintext-parts",
        default=",".join(PLAINTEXT_PARTS),
        help="the parts also run on the plaintext stack (comma-separated)",
    )
    parser.add_argument(
        "--plaintext-cache",
        type=Path,
        default=Path(os.environ.get("GAYARI_CACHE_DIR") or REPO_ROOT / ".cache")
        / "plaintext-bench",
        help="the plaintext stack's cache directory (default: <cache>/plaintext-bench)",
    )
    parser.add_argument(
        "--plaintext-ports",
        default="29092,29093,25432",
        help="the plaintext stack's Kafka, Kafka controller and PostgreSQL ports",
    )
    parser.add_argument("--doc", type=Path, help="rewrite this file's generated section")
    parser.add_argument(
        "--note", action="append", default=[], help="a line for the document (e.g. the noise)"
    )
    args = parser.parse_args(argv)
    args.plaintext_parts = [p for p in args.plaintext_parts.split(",") if p]
    unknown = set(args.plaintext_parts) - set(PARTS)
    if unknown:
        parser.error(f"--plaintext-parts: unknown {sorted(unknown)}; choose from {PARTS}")
    try:
        args.ports = [int(p) for p in args.plaintext_ports.split(",")]
        if len(args.ports) != 3:
            raise ValueError
    except ValueError:
        parser.error("--plaintext-ports: three ports, e.g. 29092,29093,25432")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    began = time.monotonic()
    load_before = load_average()
    secured_cache = Path(os.environ.get("GAYARI_CACHE_DIR") or REPO_ROOT / ".cache")
    pg_bin_dir = running_pg_bin_dir(secured_cache) or (
        Path(os.environ["GAYARI_PG_BIN_DIR"]) if os.environ.get("GAYARI_PG_BIN_DIR") else None
    )
    plain_dir = ARTIFACTS / "plaintext"
    secured = commands(args.events, ARTIFACTS)
    plain = commands(args.events, plain_dir)
    chosen = [p for p in PARTS if p not in args.skip]
    paired = [] if args.no_plaintext else [p for p in chosen if p in args.plaintext_parts]
    ARTIFACTS.mkdir(exist_ok=True)
    plain_dir.mkdir(exist_ok=True)
    for name in PARTS:
        # Stale figures of an earlier run must not pass for this one's.
        if name in chosen:
            (ARTIFACTS / OUTPUTS[name]).unlink(missing_ok=True)
        (plain_dir / OUTPUTS[name]).unlink(missing_ok=True)
    failed: list[str] = []
    plaintext_how: str | None = None
    kafka_port, controller_port, pg_port = args.ports
    stack = PlaintextStack(args.plaintext_cache, kafka_port, controller_port, pg_port, pg_bin_dir)
    with terminated_as_exit(), contextlib.ExitStack() as stacks:
        plain_env: dict[str, str] | None = None
        if paired:
            print(f"\n== plaintext stack: {args.plaintext_cache}, ports {args.ports}", flush=True)
            try:
                plain_env = stacks.enter_context(stack.running(os.environ))
                plaintext_how = (
                    f"ports {', '.join(map(str, args.ports))} (Kafka, controller, PostgreSQL)"
                )
            except RuntimeError as exc:
                print(f"!! {exc}; the plaintext column stays empty", flush=True)
                failed.append("plaintext stack start")
        for name in chosen:
            if not run(name, secured[name]):
                failed.append(name)
            paired_now = name in paired and plain_env is not None
            if paired_now and not run(f"{name} (plaintext)", plain[name], plain_env):
                failed.append(f"{name} (plaintext)")
    rows = side_by_side(table_of(ARTIFACTS), table_of(plain_dir))
    print()
    print(text_table(rows), end="")
    (ARTIFACTS / "bench_all.json").write_text(
        json.dumps([asdict(r) for r in rows], indent=2) + "\n"
    )
    if args.doc is not None:
        facts = RunFacts(
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            command=shlex.join(["python", "-m", "tests.bench.run_all", *without_notes(argv)]),
            commit=commit(args.doc),
            events=args.events,
            minutes=(time.monotonic() - began) / 60,
            machine=machine(),
            load_before=load_before,
            load_after=load_average(),
            versions=versions(pg_bin_dir),
            plaintext=plaintext_how,
            secured_parts=tuple(chosen),
            plaintext_parts=tuple(paired) if plaintext_how else (),
            failed=tuple(failed),
            notes=tuple(args.note),
        )
        document = args.doc.read_text() if args.doc.exists() else "# Performance\n"
        args.doc.write_text(rewrite(document, render(rows, facts)))
        print(f"\n{args.doc}: the latest run written between its bench markers")


if __name__ == "__main__":
    main()
