"""Run the GAYARI services as separate local processes (the stack must be up).

Usage: .venv/bin/python deploy/local/services.py {start,stop,restart,status} [SERVICE ...]

SERVICE is registry, interventions or reporting (none named: all of them). With
GAYARI_REGISTRY_OUTBOX_RELAY=separate (or GAYARI_INTERVENTIONS_...), that service's outbox relay
runs as a process of its own too, named "registry-relay" ("interventions-relay"). Each process
logs JSON to <cache>/logs/<name>.log; <cache>/run/<name>.pid says which process it is.

`start` launches what is not running (a crashed one again), each after its service's schema
migrations (`gayari-<service>-migrate up`, as a deployment runs it before its pods start),
leaves running ones alone and waits until every named one answers /health/ready. `restart`
stops the named ones gracefully and starts them; the others keep running. `status` prints pid,
port, ready or not and since when, and starts a crashed one again (`--no-restart`: only
report). Exit codes: 0 all ready (stop: all stopped), 1 a start or stop failed, 2 usage, 3
`status`: not all ready.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # run as a script: make `deploy.local.*` importable
    sys.path.insert(0, str(REPO_ROOT))

from deploy.local.principals import Credentials, service_user  # noqa: E402
from deploy.local.processes import port_in_use  # noqa: E402

SERVICE_PORTS = {"registry": 8101, "interventions": 8102, "reporting": 8103}
# A writer set to publish through a relay process of its own gets one (GAYARI_<SERVICE>_
# OUTBOX_RELAY=separate; its health and metrics on GAYARI_<SERVICE>_RELAY_HTTP_PORT).
RELAY_PORTS = {"registry": 8111, "interventions": 8112}
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
POLL_S = 0.2
LOG_TAIL_LINES = 20
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class UsageError(Exception):
    """A service name this configuration does not run."""


@dataclass(frozen=True)
class Unit:
    """One process the runner manages: a service, or a service's relay run apart."""

    name: str
    port: int
    program: Path
    # Run (`up`) before the program starts: its service's migrate command; None: nothing.
    migrate: Path | None = None


def configured_units(
    environ: Mapping[str, str] = os.environ, bin_dir: Path = Path(sys.executable).parent
) -> dict[str, Unit]:
    units = {}
    for name, default in SERVICE_PORTS.items():
        port = int(environ.get(f"GAYARI_{name.upper()}_HTTP_PORT", default))
        units[name] = Unit(
            name, port, bin_dir / f"gayari-{name}", bin_dir / f"gayari-{name}-migrate"
        )
    for writer, default in RELAY_PORTS.items():
        if environ.get(f"GAYARI_{writer.upper()}_OUTBOX_RELAY") == "separate":
            port = int(environ.get(f"GAYARI_{writer.upper()}_RELAY_HTTP_PORT", default))
            units[f"{writer}-relay"] = Unit(
                f"{writer}-relay",
                port,
                bin_dir / f"gayari-{writer}-relay",
                bin_dir / f"gayari-{writer}-migrate",
            )
    return units


# --------------------------------------------------------------------------- what the kernel says


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: [0] is the state, [19] the start
    time in clock ticks after boot. Both are set when the process is forked, so, unlike its
    cmdline (empty until the exec has set up the new program's memory), they can be read at any
    moment of the process's life."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


# --------------------------------------------------------------------------- pid files


@dataclass(frozen=True)
class PidRecord:
    """Which process runs a unit: its pid and, to tell it from a later process given the same
    pid, its start time (clock ticks after boot) and the boot. `ready_since` is when the runner
    last found it ready after having found it not ready (or launched it)."""

    pid: int
    start_ticks: int | None  # None: a pid file written by an older runner (the pid alone)
    boot_id: str | None
    ready_since: float | None = None

    @classmethod
    def of(cls, pid: int) -> PidRecord:
        fields = _stat(pid)
        return cls(pid, int(fields[19]) if fields else None, _boot_id())

    def alive(self, unit: Unit) -> bool:
        fields = _stat(self.pid)
        if fields is None or fields[0] in {"Z", "X", "x"}:
            return False
        if self.start_ticks is None:
            return self._runs_program_of(unit)
        return int(fields[19]) == self.start_ticks and self.boot_id == _boot_id()

    def _runs_program_of(self, unit: Unit) -> bool:
        # Only for a pid file of the older runner, whose process is long past its exec.
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        return unit.program.name in {Path(arg).name for arg in cmdline.split("\0")}

    def started_at(self) -> float | None:
        if self.start_ticks is None:
            return None
        return _boot_time() + self.start_ticks / CLOCK_TICKS


class Runner:
    """The units of one configuration and the cache holding their pid files and logs."""

    def __init__(self, units: Mapping[str, Unit], cache: Path, environ: Mapping[str, str]):
        self.units, self.cache, self.environ = dict(units), cache, environ

    @classmethod
    def from_env(cls) -> Runner:
        cache = Path(os.environ.get("GAYARI_CACHE_DIR", REPO_ROOT / ".cache"))
        return cls(configured_units(), cache, os.environ)

    def select(self, names: Sequence[str]) -> list[Unit]:
        for name in names:
            if name in self.units:
                continue
            writer = name.removesuffix("-relay")
            if name.endswith("-relay") and writer in RELAY_PORTS:
                raise UsageError(
                    f"{name} runs apart only with GAYARI_{writer.upper()}_OUTBOX_RELAY=separate"
                )
            raise UsageError(f"no service {name!r}; known: {', '.join(self.units)}")
        return [unit for unit in self.units.values() if not names or unit.name in names]

    def credentials(self, service: str) -> dict[str, str]:
        credentials = Credentials(self.cache / "credentials")
        return {
            **credentials.kafka_env(service_user(service)),
            **credentials.postgres_env(f"gayari_{service}"),
        }

    def pid_file(self, unit: Unit) -> Path:
        return self.cache / "run" / f"{unit.name}.pid"

    def log_file(self, unit: Unit) -> Path:
        return self.cache / "logs" / f"{unit.name}.log"

    def running(self, unit: Unit) -> tuple[PidRecord | None, bool]:
        """The unit's pid record and whether its process is alive. A live process of an older
        runner's pid file gets a full record."""
        record = self.read(unit)
        if record is None or not record.alive(unit):
            return record, False
        if record.start_ticks is None:
            record = dataclasses.replace(PidRecord.of(record.pid), ready_since=record.ready_since)
            self.write(unit, record)
        return record, True

    def read(self, unit: Unit) -> PidRecord | None:
        try:
            text = self.pid_file(unit).read_text().strip()
        except OSError:
            return None
        if text.isdigit():
            return PidRecord(int(text), None, None)
        try:
            return PidRecord(**json.loads(text))
        except (ValueError, TypeError):
            return None

    def write(self, unit: Unit, record: PidRecord) -> None:
        path = self.pid_file(unit)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(record)) + "\n")
        tmp.replace(path)

    def forget(self, unit: Unit) -> None:
        self.pid_file(unit).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One start, stop or restart at a time per cache."""
        path = self.cache / "run" / "services.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def env(self, unit: Unit) -> dict[str, str]:
        # Its own Kafka principal and database role, as the stack wrote them; the environment
        # still wins.
        env = {**self.credentials(unit.name.removesuffix("-relay")), **self.environ}
        env.setdefault("GAYARI_API_KEYS_FILE", str(self.cache / "auth" / "api-keys.json"))
        if "GAYARI_HASH_SECRET" not in env:
            env.setdefault("GAYARI_HASH_SECRET_FILE", str(self.cache / "secrets" / "hash-secret"))
        return env

    def migrate(self, unit: Unit) -> str | None:
        """`gayari-<service>-migrate up` before the unit starts, as a deployment runs it (a
        relay: its service's); None when it succeeded, else why not. Its output goes to the
        unit's log."""
        if unit.migrate is None:
            return None
        log = self.log_file(unit)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            done = subprocess.run(
                [str(unit.migrate), "up"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(unit),
                cwd=REPO_ROOT,
                check=False,
            )
        if done.returncode == 0:
            return None
        return f"{unit.migrate.name} up failed (exit {done.returncode}): see {log}"

    def launch(self, unit: Unit) -> Launched:
        log = self.log_file(unit)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = self.env(unit)
        with log.open("ab") as out:
            offset = out.tell()
            process = subprocess.Popen(
                [str(unit.program)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=REPO_ROOT,
            )
        self.write(unit, PidRecord.of(process.pid))
        return Launched(unit, process, log, offset)


# --------------------------------------------------------------------------- waiting for ready


class Watched(Protocol):
    unit: Unit

    @property
    def pid(self) -> int: ...

    def exit_reason(self) -> str | None:
        """None while the process lives; once it has exited, how."""


@dataclass
class Launched:
    """A process this command started: it is its parent, so it learns the exit status."""

    unit: Unit
    process: subprocess.Popen[bytes]
    log: Path
    log_offset: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_reason(self) -> str | None:
        code = self.process.poll()
        if code is None:
            return None
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"

    def new_log_lines(self) -> list[str]:
        try:
            with self.log.open("rb") as log:
                log.seek(self.log_offset)
                return log.read().decode(errors="replace").splitlines()
        except OSError:
            return []


@dataclass
class Adopted:
    """A process running before this command, known by its pid file."""

    unit: Unit
    record: PidRecord

    @property
    def pid(self) -> int:
        return self.record.pid

    def exit_reason(self) -> str | None:
        return None if self.record.alive(self.unit) else "gone (exit status unknown)"


def say(unit: Unit, message: str, out: IO[str] | None = None) -> None:
    print(f"{unit.name:<19} {message}", file=out or sys.stdout, flush=True)


def await_ready(runner: Runner, watched: Sequence[Watched], timeout_s: float) -> bool:
    """Wait until each answers /health/ready. A process is judged by what it does: ready when
    its endpoint answers, failed when it has exited (its exit status, from waiting on it as its
    parent), else still starting."""
    deadline = time.monotonic() + timeout_s
    pending = list(watched)
    failed = False
    while pending:
        for item in list(pending):
            reason = item.exit_reason()
            if reason is not None:
                pending.remove(item)
                failed = True
                report_exit(runner, item, reason)
            elif ready(item.unit.port):
                pending.remove(item)
                record = runner.read(item.unit)
                if record is not None and record.pid == item.pid and record.ready_since is None:
                    runner.write(item.unit, dataclasses.replace(record, ready_since=time.time()))
                docs = "  (API docs: /docs)" if item.unit.name in SERVICE_PORTS else ""
                say(item.unit, f"ready    pid {item.pid:<7} {url(item.unit)}{docs}")
        if pending and time.monotonic() >= deadline:
            for item in pending:
                say(
                    item.unit,
                    f"not ready after {timeout_s:.0f} s; see {runner.log_file(item.unit)}",
                )
            return False
        if pending:
            time.sleep(POLL_S)
    return not failed


def report_exit(runner: Runner, item: Watched, reason: str) -> None:
    # Forgotten, so that `status` does not start again and again what fails at start.
    runner.forget(item.unit)
    log = runner.log_file(item.unit)
    say(item.unit, f"exited ({reason}); last lines of {log}:")
    lines = item.new_log_lines() if isinstance(item, Launched) else _tail(log)
    for line in lines[-LOG_TAIL_LINES:] or ["(nothing logged)"]:
        print(f"    {line}")


def _tail(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return []


def url(unit: Unit) -> str:
    return f"http://127.0.0.1:{unit.port}"


# --------------------------------------------------------------------------- commands


def _migrated(runner: Runner, units: Sequence[Unit]) -> list[str | OSError | None]:
    """Each unit's `migrate` (None, a reason, or the OSError that stopped it), all at once:
    each is a process of its own that mostly waits for Python to start and for its database,
    and the migrate command locks per database, so runs on one database queue there."""

    def one(unit: Unit) -> str | OSError | None:
        try:
            return runner.migrate(unit)
        except OSError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, len(units))) as pool:
        return list(pool.map(one, units))


def start(runner: Runner, units: Sequence[Unit], timeout_s: float = READY_TIMEOUT_S) -> int:
    with runner.lock():
        watched: list[Watched] = []
        blocked = False
        to_start: list[Unit] = []
        for unit in units:
            record, alive = runner.running(unit)
            if record is not None and alive:
                watched.append(Adopted(unit, record))
                continue
            if record is not None:
                say(unit, f"crashed (pid {record.pid} is gone); starting it again")
            if port_in_use(unit.port):
                say(unit, f"not started: port {unit.port} is taken by another process")
                runner.forget(unit)
                blocked = True
                continue
            to_start.append(unit)
        for unit, failed in zip(to_start, _migrated(runner, to_start), strict=True):
            try:
                if isinstance(failed, OSError):
                    raise failed
                if failed is not None:
                    say(unit, f"not started: {failed}")
                    runner.forget(unit)
                    blocked = True
                    continue
                watched.append(runner.launch(unit))
            except OSError as exc:
                say(unit, f"not started: {exc}")
                runner.forget(unit)
                blocked = True
        return 0 if await_ready(runner, watched, timeout_s) and not blocked else 1


def _stop_one(runner: Runner, unit: Unit) -> bool:
    record = runner.read(unit)
    if record is None or not record.alive(unit):
        say(unit, "not running" if record is None else f"not running (pid {record.pid} is gone)")
        runner.forget(unit)
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while record.alive(unit) and time.monotonic() < deadline:
        time.sleep(0.1)
    graceful = not record.alive(unit)
    if graceful:
        say(unit, "stopped")
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
        say(unit, f"killed (no graceful stop within {STOP_TIMEOUT_S:.0f} s)")
    runner.forget(unit)
    return graceful


def stop(runner: Runner, units: Sequence[Unit]) -> int:
    with runner.lock():
        results = [_stop_one(runner, unit) for unit in units]
    return 0 if all(results) else 1


def restart(runner: Runner, units: Sequence[Unit], timeout_s: float = READY_TIMEOUT_S) -> int:
    with runner.lock():
        for unit in units:
            _stop_one(runner, unit)
    return start(runner, units, timeout_s)


def _since(moment: float | None) -> str:
    if moment is None:
        return "?"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status(
    runner: Runner,
    units: Sequence[Unit],
    restart_crashed: bool = True,
    timeout_s: float = READY_TIMEOUT_S,
) -> int:
    crashed: list[Unit] = []
    all_ready = True
    for unit in units:
        record, alive = runner.running(unit)
        if record is None:
            say(unit, f"stopped              port {unit.port}")
            all_ready = False
            continue
        if not alive:
            say(unit, f"crashed   pid {record.pid:<7} port {unit.port}  (the process is gone)")
            crashed.append(unit)
            continue
        is_ready = ready(unit.port)
        all_ready = all_ready and is_ready
        if is_ready and record.ready_since is None:
            record = dataclasses.replace(record, ready_since=time.time())
            runner.write(unit, record)
        elif not is_ready and record.ready_since is not None:
            record = dataclasses.replace(record, ready_since=None)
            runner.write(unit, record)
        state = "ready" if is_ready else "not ready"
        since = f"up since {_since(record.started_at())}"
        if is_ready:
            since += f", ready since {_since(record.ready_since)}"
        say(unit, f"{state:<9} pid {record.pid:<7} port {unit.port}  {since}")
    if crashed and restart_crashed:
        return 0 if start(runner, crashed, timeout_s) == 0 and all_ready else 3
    return 0 if all_ready and not crashed else 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=["start", "stop", "restart", "status"])
    parser.add_argument("services", nargs="*", metavar="SERVICE", help="default: all")
    parser.add_argument(
        "--no-restart", action="store_true", help="status: report a crashed service, only"
    )
    args = parser.parse_args(argv)
    runner = Runner.from_env()
    try:
        units = runner.select(args.services)
    except UsageError as exc:
        parser.error(str(exc))
    if args.command == "start":
        return start(runner, units)
    if args.command == "stop":
        return stop(runner, units)
    if args.command == "restart":
        return restart(runner, units)
    return status(runner, units, restart_crashed=not args.no_restart)


if __name__ == "__main__":
    sys.exit(main())
