"""Run the three GAYARI services as separate local processes (the stack must be up).

Usage: .venv/bin/python deploy/local/services.py {start,stop,status,restart}

With GAYARI_REGISTRY_OUTBOX_RELAY=separate (or GAYARI_INTERVENTIONS_...), that service's outbox
relay runs as a process of its own too ("registry-relay"). Each service logs JSON to
<cache>/logs/<service>.log; its pid is in <cache>/run/<service>.pid.
`start` waits until every service answers /health/ready.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("GAYARI_CACHE_DIR", REPO_ROOT / ".cache"))
SERVICES = {
    "registry": int(os.environ.get("GAYARI_REGISTRY_HTTP_PORT", "8101")),
    "interventions": int(os.environ.get("GAYARI_INTERVENTIONS_HTTP_PORT", "8102")),
    "reporting": int(os.environ.get("GAYARI_REPORTING_HTTP_PORT", "8103")),
}
# A writer set to publish through a relay process of its own gets one (GAYARI_<SERVICE>_
# OUTBOX_RELAY=separate; its health and metrics on GAYARI_<SERVICE>_RELAY_HTTP_PORT).
for _writer, _relay_port in (("registry", "8111"), ("interventions", "8112")):
    if os.environ.get(f"GAYARI_{_writer.upper()}_OUTBOX_RELAY") == "separate":
        SERVICES[f"{_writer}-relay"] = int(
            os.environ.get(f"GAYARI_{_writer.upper()}_RELAY_HTTP_PORT", _relay_port)
        )
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


def pid_file(service: str) -> Path:
    return CACHE / "run" / f"{service}.pid"


def running_pid(service: str) -> int | None:
    path = pid_file(service)
    try:
        pid = int(path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    # The whole program name: "gayari-registry" is also in "gayari-registry-relay".
    names = {Path(arg).name for arg in cmdline.split("\0")}
    return pid if f"gayari-{service}" in names else None


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start() -> int:
    (CACHE / "run").mkdir(parents=True, exist_ok=True)
    (CACHE / "logs").mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        if running_pid(service):
            print(f"{service:<19} already running")
            continue
        log = (CACHE / "logs" / f"{service}.log").open("ab")
        env = dict(os.environ)
        env.setdefault("GAYARI_API_KEYS_FILE", str(CACHE / "auth" / "api-keys.json"))
        if "GAYARI_HASH_SECRET" not in env:
            env.setdefault("GAYARI_HASH_SECRET_FILE", str(CACHE / "secrets" / "hash-secret"))
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / f"gayari-{service}")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=REPO_ROOT,
        )
        pid_file(service).write_text(str(process.pid))
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = dict(SERVICES)
    while pending and time.monotonic() < deadline:
        for service, port in list(pending.items()):
            if ready(port):
                print(f"{service:<19} ready    http://127.0.0.1:{port}  (API docs: /docs)")
                del pending[service]
            elif not running_pid(service):
                print(f"{service:<19} exited; see {CACHE / 'logs' / f'{service}.log'}")
                return 1
        time.sleep(0.3)
    for service in pending:
        print(f"{service:<19} not ready after {READY_TIMEOUT_S:.0f} s; see its log")
    return 1 if pending else 0


def stop() -> int:
    failed = 0
    for service in SERVICES:
        pid = running_pid(service)
        if pid is None:
            print(f"{service:<19} not running")
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while running_pid(service) and time.monotonic() < deadline:
            time.sleep(0.1)
        if running_pid(service):
            os.kill(pid, signal.SIGKILL)
            print(f"{service:<19} killed (no graceful stop within {STOP_TIMEOUT_S:.0f} s)")
            failed = 1
        else:
            print(f"{service:<19} stopped")
        pid_file(service).unlink(missing_ok=True)
    return failed


def status() -> int:
    code = 0
    for service, port in SERVICES.items():
        pid = running_pid(service)
        state = "ready" if pid and ready(port) else ("running" if pid else "stopped")
        code = code if state == "ready" else 3
        print(f"{service:<19} {state:<8} pid={pid or '-':<8} http://127.0.0.1:{port}")
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=["start", "stop", "status", "restart"])
    command = parser.parse_args().command
    if command == "restart":
        stop()
        return start()
    return {"start": start, "stop": stop, "status": status}[command]()


if __name__ == "__main__":
    sys.exit(main())
