"""What the stack's parts share: how a failure is reported, the processes they start (pid
files, graceful stops, ports) and the interface of a part (start, stop, status)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

PROBE_TIMEOUT_S = 5.0
LOG_TAIL_LINES = 30


class StackError(Exception):
    """A failure that is reported as one clear message and exit code 1."""


def say(message: str) -> None:
    print(message, flush=True)


def read_cmdline(pid: int) -> list[str] | None:
    """Argument vector of a live (non-zombie) process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2] == "Z":
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def pid_alive(pid: int) -> bool:
    return read_cmdline(pid) is not None


def all_pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def read_pid_file(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def write_pid_file(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(path)


def stop_process(pid: int, name: str, signals: Sequence[tuple[signal.Signals, float]]) -> None:
    """Send each signal in turn, waiting up to its time limit for the process to exit."""
    for sig, wait_s in signals:
        with contextlib.suppress(ProcessLookupError):
            if sig is signal.SIGKILL and os.getpgid(pid) == pid:
                # We started it as a session leader: take its children (postgres backends) too.
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        if sig is signal.SIGKILL:
            say(f"{name}: did not stop in time, sent SIGKILL to pid {pid} and its process group")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap if it happens to be our child
            if not pid_alive(pid):
                return
            time.sleep(0.2)
    if pid_alive(pid):
        raise StackError(f"{name}: pid {pid} is still alive after SIGKILL")


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(fields[9])
    return inodes


def port_owner(port: int) -> str:
    """Best-effort description of the process listening on a local TCP port."""
    inodes = _listening_inodes(port)
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid in all_pids():
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                        cmd = " ".join(read_cmdline(pid) or ["?"])
                        return f"pid {pid}: {cmd[:160]}"
    return "an unknown process"


def ensure_ports_free(name: str, ports: Sequence[tuple[str, int]]) -> None:
    for label, port in ports:
        if port_in_use(port):
            raise StackError(
                f"{name}: port 127.0.0.1:{port} ({label}) is already taken by something that is "
                f"not our {name} ({port_owner(port)}). Stop it or choose another port via the "
                "GAYARI_*_PORT environment variables."
            )


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(content[-lines:]) or f"({path} is empty)"


def wait_until(
    check: Callable[[], bool], alive: Callable[[], bool], timeout_s: float, every_s: float = 1.0
) -> str:
    """Poll ``check`` until it holds ("ready"), the process dies ("died") or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not alive():
            return "died"
        if check():
            return "ready"
        if time.monotonic() >= deadline:
            return "timeout"
        time.sleep(every_s)


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    port: int
    ready: bool
    detail: str = ""


class Component(Protocol):
    name: ClassVar[str]

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> Status: ...
