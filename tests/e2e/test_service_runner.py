"""The local service runner (deploy/local/services.py): a launched process is judged by what it
does, never by an early look at /proc, and each service is started, stopped and restarted on
its own.

The start verdict is exercised 60 times on cheap stand-in services: small programs started
through a shebang like the real console scripts, so each launch goes through the same exec
whose first moments once made the runner read an empty /proc/<pid>/cmdline and report a live
service "exited". A real service takes seconds to boot; the real services are restarted a few
times in the last test, with the others answering throughout."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from deploy.local import services as runner
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory
from tests.processes import free_port

ROUNDS = 15  # four launches judged a round: 60
RUNNER_SCRIPT = Path(runner.__file__)

STAND_IN = """#!{python}
import http.server, sys, time
time.sleep(0.1)  # a start-up: the runner looks at it before it answers


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health/ready" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


print("stand-in {name} listening", flush=True)
http.server.HTTPServer(("127.0.0.1", {port}), Health).serve_forever()
"""

DIES_AT_START = """#!{python}
import sys, time
for n in range(30):
    print(f"start-up step {{n}}", flush=True)
time.sleep(0.3)
print("fatal: the database refused the connection", flush=True)
sys.exit(3)
"""


def stand_in(directory: Path, name: str, script: str = STAND_IN) -> runner.Unit:
    port = free_port()
    program = directory / f"gayari-{name}"
    program.write_text(script.format(python=sys.executable, name=name, port=port))
    program.chmod(0o755)
    return runner.Unit(name, port, program)


@pytest.fixture
def stand_ins(tmp_path: Path) -> Iterator[runner.Runner]:
    units = {name: stand_in(tmp_path, name) for name in ("alpha", "beta", "gamma")}
    managed = runner.Runner(units, tmp_path / "cache", os.environ)
    yield managed
    kill_all(managed)


def kill_all(managed: runner.Runner) -> None:
    for unit in managed.units.values():
        record, alive = managed.running(unit)
        if record is not None and alive:
            os.kill(record.pid, signal.SIGKILL)


def pid_of(managed: runner.Runner, name: str) -> int:
    record = managed.read(managed.units[name])
    assert record is not None, f"{name} has no pid file"
    return record.pid


def kill_9(managed: runner.Runner, name: str) -> None:
    unit = managed.units[name]
    record = managed.read(unit)
    assert record is not None
    os.kill(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while record.alive(unit):
        assert time.monotonic() < deadline, f"{name} survived kill -9"
        time.sleep(0.05)


def test_repeated_starts_never_report_a_live_service_exited(
    stand_ins: runner.Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each round starts all three, then restarts one alone: that launch is judged at once."""
    units = list(stand_ins.units.values())
    for round_ in range(ROUNDS):
        code = runner.start(stand_ins, units, timeout_s=30)
        out = capsys.readouterr().out
        assert code == 0, f"round {round_}, start:\n{out}"
        assert sum(" ready " in line for line in out.splitlines()) == len(units), out
        alone = units[round_ % len(units)]
        code = runner.restart(stand_ins, [alone], timeout_s=30)
        out = capsys.readouterr().out
        assert code == 0, f"round {round_}, restart {alone.name}:\n{out}"
        assert f"{alone.name:<19} ready " in out, out
        assert runner.stop(stand_ins, units) == 0, capsys.readouterr().out
        capsys.readouterr()


def test_a_process_just_launched_is_running_by_its_pid_file(stand_ins: runner.Runner) -> None:
    """What `status`, or a `start` of another terminal, sees right after a launch."""
    unit = stand_ins.units["alpha"]
    for _ in range(60):
        launched = stand_ins.launch(unit)
        record, alive = stand_ins.running(unit)
        assert alive, "a process launched a moment ago taken for gone"
        assert record is not None and record.pid == launched.pid
        launched.process.kill()
        launched.process.wait()
        assert stand_ins.running(unit) == (record, False)


def test_a_service_dying_at_start_is_reported_with_its_last_log_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doomed = stand_in(tmp_path, "doomed", DIES_AT_START)
    healthy = stand_in(tmp_path, "healthy")
    managed = runner.Runner({"doomed": doomed, "healthy": healthy}, tmp_path / "cache", {})
    log = managed.log_file(doomed)
    log.parent.mkdir(parents=True)
    log.write_text("a line of an earlier run\n")
    try:
        code = runner.start(managed, [doomed, healthy], timeout_s=30)
    finally:
        kill_all(managed)
    out = capsys.readouterr().out
    assert code == 1, out
    assert f"doomed              exited (exit status 3); last lines of {log}:" in out
    assert "    fatal: the database refused the connection" in out
    assert "start-up step 29" in out and "start-up step 10" not in out  # the last 20 lines
    assert "earlier run" not in out
    assert "healthy             ready" in out  # waited for the others all the same
    assert managed.read(doomed) is None  # forgotten: `status` does not relaunch it in a loop


def test_a_crashed_service_is_started_again_alone(
    stand_ins: runner.Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    units = list(stand_ins.units.values())
    assert runner.start(stand_ins, units, timeout_s=30) == 0
    before = {name: pid_of(stand_ins, name) for name in stand_ins.units}

    kill_9(stand_ins, "beta")
    capsys.readouterr()
    assert runner.status(stand_ins, units, restart_crashed=False) == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"beta                crashed   pid {before['beta']}"), lines
    for line, name in ((lines[0], "alpha"), (lines[2], "gamma")):
        assert line.startswith(f"{name:<19} ready     pid {before[name]:<7} port "), line
        assert "up since 20" in line and "ready since 20" in line

    assert runner.status(stand_ins, units) == 0  # found crashed: started again
    out = capsys.readouterr().out
    assert f"beta                crashed (pid {before['beta']} is gone); starting it again" in out
    assert sum(" ready " in line for line in out.splitlines()) == 3
    after = {name: pid_of(stand_ins, name) for name in stand_ins.units}
    assert after["beta"] != before["beta"]
    assert {after["alpha"], after["gamma"]} == {before["alpha"], before["gamma"]}

    kill_9(stand_ins, "gamma")
    assert runner.start(stand_ins, units, timeout_s=30) == 0
    out = capsys.readouterr().out
    assert f"gamma               crashed (pid {after['gamma']} is gone)" in out
    again = {name: pid_of(stand_ins, name) for name in stand_ins.units}
    assert again["gamma"] != after["gamma"]
    assert (again["alpha"], again["beta"]) == (after["alpha"], after["beta"])

    assert runner.restart(stand_ins, [stand_ins.units["alpha"]], timeout_s=30) == 0
    last = {name: pid_of(stand_ins, name) for name in stand_ins.units}
    assert last["alpha"] != again["alpha"]
    assert (last["beta"], last["gamma"]) == (again["beta"], again["gamma"])


# --------------------------------------------------------------------------- the real services


@dataclass
class Prober:
    """Asks each of `urls` for /health/ready every 100 ms while it runs."""

    urls: dict[str, str]
    answered: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            while not stop.is_set():
                for name, url in self.urls.items():
                    try:
                        reply = await http.get(f"{url}/health/ready")
                        ok, detail = reply.status_code == 200, str(reply.status_code)
                    except httpx.HTTPError as exc:
                        ok, detail = False, repr(exc)
                    if ok:
                        self.answered[name] = self.answered.get(name, 0) + 1
                    else:
                        self.failures.append(f"{name}: {detail}")
                await asyncio.sleep(0.1)


@dataclass
class Cli:
    env: dict[str, str]
    cache: Path

    async def __call__(self, *args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(RUNNER_SCRIPT),
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode()

    def pid(self, name: str) -> int:
        return int(json.loads((self.cache / "run" / f"{name}.pid").read_text())["pid"])

    def kill_9(self, name: str) -> None:
        os.kill(self.pid(name), signal.SIGKILL)


@pytest.fixture
async def cli(
    databases: DatabaseFactory, isolated_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[Cli]:
    env = {
        **os.environ,
        "GAYARI_CACHE_DIR": str(tmp_path / "cache"),
        "GAYARI_TOPIC_PREFIX": isolated_settings.topic_prefix,
        "GAYARI_API_KEYS_FILE": str(isolated_settings.api_keys_file),
        "GAYARI_REPORTING_CONSUMER_GROUP": f"e2e-{uuid.uuid4().hex[:8]}",
    }
    for name in runner.SERVICE_PORTS:
        env[f"GAYARI_{name.upper()}_DATABASE_URL"] = await databases.create(name)
        env[f"GAYARI_{name.upper()}_HTTP_PORT"] = str(free_port())
    run = Cli(env, tmp_path / "cache")
    yield run
    await run("stop")
    kill_all(runner.Runner(runner.configured_units(env), run.cache, env))


def url_of(cli: Cli, name: str) -> str:
    return f"http://127.0.0.1:{cli.env[f'GAYARI_{name.upper()}_HTTP_PORT']}"


async def while_probing(prober: Prober, steps: AsyncIterator[None]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(prober.run(stop))
    try:
        async for _ in steps:
            pass
    finally:
        stop.set()
        await task


@pytest.mark.stack
@pytest.mark.e2e
async def test_a_service_killed_is_restarted_alone_while_the_others_answer(cli: Cli) -> None:
    code, out = await cli("start")
    assert code == 0, out
    assert sum(" ready " in line for line in out.splitlines()) == 3, out
    first = {name: cli.pid(name) for name in runner.SERVICE_PORTS}

    # reporting: kill -9, seen crashed, restarted alone, and once more.
    survivors = Prober({name: url_of(cli, name) for name in ("registry", "interventions")})
    outputs: list[str] = []

    async def reporting_steps() -> AsyncIterator[None]:
        cli.kill_9("reporting")
        await asyncio.sleep(0.5)
        code, out = await cli("status", "--no-restart")
        assert code == 3, out
        assert f"reporting           crashed   pid {first['reporting']}" in out, out
        yield
        for _ in range(2):
            code, out = await cli("restart", "reporting")
            outputs.append(out)
            assert code == 0, out
            yield

    await while_probing(survivors, reporting_steps())
    assert not survivors.failures, survivors.failures
    assert min(survivors.answered.values()) > 20, survivors.answered
    assert all("exited" not in out and "reporting           ready" in out for out in outputs)
    after = {name: cli.pid(name) for name in runner.SERVICE_PORTS}
    assert after["reporting"] != first["reporting"]
    assert (after["registry"], after["interventions"]) == (
        first["registry"],
        first["interventions"],
    )

    # interventions: kill -9, found by `status`, which starts it again alone.
    survivors = Prober({name: url_of(cli, name) for name in ("registry", "reporting")})

    async def interventions_steps() -> AsyncIterator[None]:
        cli.kill_9("interventions")
        await asyncio.sleep(0.5)
        code, out = await cli("status")
        assert code == 0, out
        assert f"interventions       crashed   pid {after['interventions']}" in out, out
        assert "interventions       ready    pid" in out, out
        yield

    await while_probing(survivors, interventions_steps())
    assert not survivors.failures, survivors.failures
    last = {name: cli.pid(name) for name in runner.SERVICE_PORTS}
    assert last["interventions"] != after["interventions"]
    assert (last["registry"], last["reporting"]) == (after["registry"], after["reporting"])

    code, out = await cli("stop")
    assert code == 0, out
    assert [line.split() for line in out.splitlines()] == [
        [name, "stopped"] for name in runner.SERVICE_PORTS
    ]
