"""The HTTP write path of registry and interventions, with the outbox and its relay, on the real
local stack (`make stack-start`). A benchmark, not a test: it prints a table and writes
artifacts/bench_http.json.

    .venv/bin/python -m tests.bench.bench_http [--seconds 20] [--concurrency 32] [--rate R]
        [--phases all|writes|registry] [--relay in-process|separate]

The services run as real processes (fresh databases, a topic prefix and API keys of their own);
the load comes from a separate process (tests/bench/http_load.py) over keep-alive connections:
1. register: POST /households (households over the real villages of Lamandau);
2. enrol: POST /households/{id}/enrolment for the households just registered;
3. interventions: the agencies' mix of grants, mentoring visits, business surveys, training
   participants, sessions and budget allocations for the enrolled households (once the
   interventions service has consumed their enrolments from Kafka);
4. scaling out: a second interventions instance (same database, same topics, same consumer
   group); the load generator splits requests between the two round robin; how the household
   topic's partitions split between the two instances, and which instance consumed how many of
   a burst of new household events;
5. verification: every write answered 201 staged exactly one outbox row, and every outbox row
   reached Kafka (read back by CloudEvents id); the relay's lag when a phase ends;
6. each service process's peak RSS (VmHWM).
Each writer's outbox relay runs in its API process, or with `--relay separate` as a process of
its own (gayari-<service>-relay; its CPU is shown beside its service's). On 2 cores shared by
every process, separate relays gave no more requests/s (docs/performance.md,
"Measurements behind the defaults").
With `--phases registry` only 1 and 2 run (then 5 and 6): the registry's write path alone;
with `--phases writes`, 1 to 3 (then 5 and 6).
The CPU figures count every PostgreSQL backend, whoever's: another run on the same stack shows
up as postgres CPU here; `postgres_own` counts only the backends of the services' two
databases (the interventions service applying the registry's events among them).
`--idempotency-keys on` sends an Idempotency-Key (a new one per write) on every write; `both`
runs register, enrol and interventions (1 instance) both ways on the same services, in
`--rounds` interleaved rounds (3 by default), each round one run without keys and one with
them, in alternating order (without, with; with, without; ...), so a machine that gets busier
or quieter during the run weighs on both alike. Each way's figures (`<phase>` and
`<phase>_keyed`) are those of its median round by req/s (every round's are under `rounds`),
and `idempotency_key_cost` gives the change of req/s with keys: of the medians, and the median
of each round's pair. Each register run registers households of its own, which the enrol run
of the same round and way enrols. `--rounds` applies to `off` and `on` too (default 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from gayari_interventions.entrypoints.consumers import GROUP_ID
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.kafka.clients import kafka_reachable
from gayari_shared.kafka.connection import KafkaConnection
from gayari_shared.settings import CommonSettings
from tests.conftest import ADMIN_URL, DatabaseFactory, database_name
from tests.kafka_tools import delete_topics_with_prefix, read_all
from tests.processes import Service, free_port, running_services

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
AGENCIES = ("dinsos", "dispar", "distakan", "dkukmpp")


def issue_keys(path: Path) -> dict[str, str]:
    """One key per agency, as the services' key file and as the load generator's {agency: key};
    Social Affairs (dinsos) may also write the registry."""
    keys = KeyFile(path)
    plain: dict[str, str] = {}
    for code in AGENCIES:
        roles = {Role.INTERVENTIONS_WRITE, Role.REGISTRY_READ}
        if code == "dinsos":
            roles.add(Role.REGISTRY_WRITE)
        plain[code], record = issue_key(f"bench {code}", roles, agency=code)
        keys.add(record)
    return plain


# -- process figures --------------------------------------------------------------------


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack_cpu_seconds() -> dict[tuple[str, int], float]:
    """CPU time so far of the stack's processes, by (name, pid): every PostgreSQL backend, and
    Kafka (java)."""
    found: dict[tuple[str, int], float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        name = "postgres" if comm == "postgres" else "kafka" if comm == "java" else None
        if name is not None:
            found[(name, int(entry.name))] = cpu_seconds(int(entry.name))
    return found


async def backends_of(databases: list[str]) -> list[int] | None:
    """The PostgreSQL backends connected to these databases now; None when PostgreSQL cannot
    say (no connection slot free on a shared stack, say): a figure missing, not a failed run."""
    if not databases:
        return None
    try:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])", databases
            )
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"backends of {databases} not counted: {exc}", file=sys.stderr)
        return None
    return [int(row["pid"]) for row in rows]


def stack_cpu_spent(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
) -> dict[str, float]:
    """CPU seconds each part of the stack spent between two readings; a backend that ended
    meanwhile is not counted (its time shows under "other")."""
    spent = {"postgres": 0.0, "kafka": 0.0}
    for (name, pid), seconds in after.items():
        spent[name] += seconds - before.get((name, pid), 0.0)
    return spent


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def pid_of(service: Service) -> int:
    assert service.process is not None
    return service.process.pid


# -- the load generator -----------------------------------------------------------------


async def load(
    phase: str,
    urls: list[str],
    keys_file: Path,
    args: argparse.Namespace,
    processes: dict[str, Service],
    *,
    seconds: float,
    given: Path | None = None,
    output: Path | None = None,
    keyed: bool = False,
    run_name: str | None = None,
) -> dict[str, Any]:
    """Run the load generator as a process of its own; its JSON result, with the CPU the
    services and the machine spent meanwhile. `keyed`: an Idempotency-Key on every write;
    `run_name` names its py-spy profiles (the phase's name by default)."""
    command = [
        sys.executable,
        "-m",
        "tests.bench.http_load",
        "--phase",
        phase,
        "--keys",
        str(keys_file),
        "--seconds",
        str(seconds),
        "--warmup",
        str(args.warmup),
        "--concurrency",
        str(args.concurrency * len(urls)),
    ]
    for url in urls:
        command += ["--url", url]
    if args.rate:
        command += ["--rate", str(args.rate * len(urls))]
    if given is not None:
        command += ["--input", str(given)]
    if output is not None:
        command += ["--output", str(output)]
    if keyed:
        command.append("--idempotency-keys")
    profilers = []
    if args.py_spy is not None:
        # Sampling profiles of the services under this phase's load (collapsed stacks).
        for name, service in processes.items():
            profilers.append(
                await asyncio.create_subprocess_exec(
                    shutil.which(
                        "py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}"
                    )
                    or "py-spy",
                    "record",
                    "--pid",
                    str(pid_of(service)),
                    "--duration",
                    str(int(seconds + args.warmup)),
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(args.py_spy / f"{run_name or phase}-{name}-{len(urls)}x.txt"),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )
    cpu_before = {name: cpu_seconds(pid_of(s)) for name, s in processes.items()}
    own = await backends_of(args.databases)
    own_before = None if own is None else {pid: cpu_seconds(pid) for pid in own}
    stack_before = stack_cpu_seconds()
    busy_before, total_before = machine_busy()
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    stdout, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed ({process.returncode}) in phase {phase}")
    wall = time.monotonic() - started
    for profiler in profilers:
        await profiler.wait()
    busy_after, total_after = machine_busy()
    result: dict[str, Any] = json.loads(stdout)
    spent = {name: cpu_seconds(pid_of(s)) - cpu_before[name] for name, s in processes.items()}
    spent |= stack_cpu_spent(stack_before, stack_cpu_seconds())
    # The backends of the services' own databases alone (one that ended meanwhile is missed).
    own = await backends_of(args.databases)
    if own is not None and own_before is not None:
        own_after = {pid: cpu_seconds(pid) for pid in own}
        spent["postgres_own"] = sum(
            after - own_before.get(pid, 0.0) for pid, after in own_after.items() if after
        )
    result["service_cpu_pct"] = {name: round(100 * cpu / wall, 1) for name, cpu in spent.items()}
    # CPU per accepted write (warm-up included): unlike req/s, hardly moved by what else the
    # machine runs meanwhile, except PostgreSQL's, which counts every backend's.
    result["cpu_ms_per_write"] = {
        name: round(1000 * cpu / max(result["created_total"], 1), 3) for name, cpu in spent.items()
    }
    result["machine_cpu_pct"] = round(
        100 * (busy_after - busy_before) / max(total_after - total_before, 1), 1
    )
    # In % of one CPU, like the others: whatever else ran meanwhile (another test run on the
    # machine makes the numbers of this one worth less: this says how much).
    known = (
        sum(v for k, v in result["service_cpu_pct"].items() if k != "postgres_own")
        + result["loadgen_cpu_pct"]
    )
    result["other_cpu_pct"] = round(result["machine_cpu_pct"] * (os.cpu_count() or 1) - known, 1)
    return result


# -- databases, relay, Kafka ----------------------------------------------------------------


async def fetchval(url: str, query: str, *query_args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query, *query_args)
    finally:
        await conn.close()


async def relay_drain(urls: list[str], timeout_s: float = 120.0) -> dict[str, Any]:
    """Outbox rows pending right now, and how long the relay takes to publish them all."""
    pending_at_end = [
        int(await fetchval(u, "SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        for u in urls
    ]
    started = time.monotonic()
    async with asyncio.timeout(timeout_s):
        while True:
            pending = [
                int(await fetchval(u, "SELECT count(*) FROM outbox WHERE published_at IS NULL"))
                for u in urls
            ]
            if not any(pending):
                break
            await asyncio.sleep(0.05)
    return {
        "pending_at_end": sum(pending_at_end),
        "drained_after_s": round(time.monotonic() - started, 2),
    }


async def wait_for_enrolments(url: str, expected: int, timeout_s: float = 900.0) -> float:
    """Seconds until the interventions service knows `expected` enrolled households."""
    started = time.monotonic()
    async with asyncio.timeout(timeout_s):
        while (
            int(
                await fetchval(
                    url, "SELECT count(*) FROM known_households WHERE enrolled_at IS NOT NULL"
                )
            )
            < expected
        ):
            await asyncio.sleep(0.2)
    return round(time.monotonic() - started, 2)


async def outbox_ids(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM outbox")]
    finally:
        await conn.close()


async def verify_delivery(
    settings: CommonSettings, database_urls: list[str], accepted: int
) -> dict[str, Any]:
    """Every accepted write staged one event; every staged event is on Kafka."""
    staged: list[str] = []
    for url in database_urls:
        staged += await outbox_ids(url)
    seen: Counter[str] = Counter()
    records = 0
    for stream in ("households", "interventions"):
        for record in await read_all(
            settings.kafka_connection(), settings.topic(stream), timeout_s=120
        ):
            records += 1
            seen[dict(record.headers).get("ce_id", b"").decode()] += 1
    missing = set(staged) - set(seen)
    return {
        "accepted_writes": accepted,
        "outbox_rows": len(staged),
        "kafka_records": records,
        "kafka_distinct_events": len(seen),
        "missing_on_kafka": len(missing),
        "published_twice": sum(n - 1 for n in seen.values() if n > 1),
        "ok": len(staged) == accepted and not missing and len(seen) == len(staged),
    }


async def group_split(kafka: KafkaConnection, topic: str) -> list[list[int]]:
    """The partitions of `topic` each member of the interventions consumer group holds."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([GROUP_ID])
    finally:
        await admin.close()
    split: list[list[int]] = []
    for group in response.groups:
        members = group[5]
        for member in members:
            raw = member[4]
            if not raw:
                continue
            assignment = ConsumerProtocolMemberAssignment.decode(raw)
            mine = sorted(p for t, parts in assignment.assignment if t == topic for p in parts)
            if mine:
                split.append(mine)
    return sorted(split)


async def wait_for_split(
    kafka: KafkaConnection, topic: str, members: int, timeout_s: float = 90.0
) -> tuple[list[list[int]], float]:
    started = time.monotonic()
    async with asyncio.timeout(timeout_s):
        while True:
            split = await group_split(kafka, topic)
            if len(split) == members and sum(len(s) for s in split) == 6:
                return split, round(time.monotonic() - started, 2)
            await asyncio.sleep(0.5)


async def consumed(service: Service, topic: str) -> int:
    """Household events this instance applied (its /metrics counter)."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{service.url}/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if (
            line.startswith("gayari_events_consumed_total{")
            and f'topic="{topic}"' in line
            and 'outcome="applied"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


# -- the run ----------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["GAYARI_LOG_LEVEL"] = args.log_level
    base = CommonSettings()
    if not await kafka_reachable(base.kafka_connection(), timeout_s=10):
        raise SystemExit(f"Kafka is not reachable at {base.kafka_connection()}")
    try:
        await (await asyncpg.connect(ADMIN_URL, timeout=10)).close()
    except (OSError, asyncpg.PostgresError) as exc:
        raise SystemExit(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}") from None

    work = Path(tempfile.mkdtemp(prefix="bench-http-"))
    keys_file = work / "load-keys.json"
    keys_file.write_text(json.dumps(issue_keys(work / "api-keys.json")))
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(
        update={"topic_prefix": prefix, "api_keys_file": work / "api-keys.json"}
    )
    households_topic = settings.topic("households")
    databases = DatabaseFactory()
    results: dict[str, Any] = {
        "settings": {
            "seconds": args.seconds,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "rate_per_instance": args.rate,
            "log_level": args.log_level,
            "phases": args.phases,
            "relay": args.relay,
            "idempotency_keys": args.idempotency_keys,
            "rounds": len(run_order(args.idempotency_keys, args.rounds))
            // (2 if args.idempotency_keys == "both" else 1),
            "cpus": os.cpu_count(),
        },
        "logs": str(work),
    }
    accepted = 0
    second: Service | None = None
    writers = ("registry", "interventions")
    relays = writers if args.relay == "separate" else ()
    running = running_services(databases, settings, work, writers, separate_relays=relays)
    try:
        services = await anext(running)
        registry, interventions = services["registry"], services["interventions"]
        db = {name: services[name].env[f"GAYARI_{name.upper()}_DATABASE_URL"] for name in writers}
        # Their backends' CPU is counted apart from every other PostgreSQL process's.
        args.databases = [database_name(url) for url in db.values()]
        # The CPU of each phase's service, and of its relay when that runs apart.
        registry_side = {n: s for n, s in services.items() if n.startswith("registry")}
        relay_side = {n: s for n, s in services.items() if n == "interventions-relay"}
        print(f"services up (logs in {work}); topic prefix {prefix}", file=sys.stderr)

        # Each write phase's runs: without keys, with them, or both ways interleaved.
        order = run_order(args.idempotency_keys, args.rounds)
        variants = sorted(set(order))

        def label(phase: str, keyed: bool) -> str:
            return f"{phase}_keyed" if keyed and args.idempotency_keys == "both" else phase

        def run_name(phase: str, index: int, keyed: bool) -> str:
            return f"{phase}-{index // len(variants) + 1}{'-keyed' * keyed}"

        registered: list[Path] = []
        runs: dict[str, list[dict[str, Any]]] = {}
        for index, keyed in enumerate(order):
            name = run_name("register", index, keyed)
            print(f"run {name} ...", file=sys.stderr)
            registered.append(work / f"registered-{index}.json")
            result = await load(
                "register",
                [registry.url],
                keys_file,
                args,
                registry_side,
                seconds=args.seconds,
                output=registered[index],
                keyed=keyed,
                run_name=name,
            )
            result["relay"] = await relay_drain([db["registry"]])
            runs.setdefault(label("registry_register", keyed), []).append(result)
            accepted += result["created_total"]
        enrolled_count = 0
        enrolled_files: dict[bool, Path] = {}
        for index, keyed in enumerate(order):
            name = run_name("enrol", index, keyed)
            print(f"run {name} ...", file=sys.stderr)
            enrolled_now = work / f"enrolled-{index}.json"
            result = await load(
                "enrol",
                [registry.url],
                keys_file,
                args,
                registry_side,
                seconds=args.seconds,
                given=registered[index],
                output=enrolled_now,
                keyed=keyed,
                run_name=name,
            )
            result["relay"] = await relay_drain([db["registry"]])
            runs.setdefault(label("registry_enrol", keyed), []).append(result)
            accepted += result["created_total"]
            enrolled_count += len(json.loads(enrolled_now.read_text())["households"])
            enrolled_files.setdefault(keyed, enrolled_now)
        # The households the interventions go to: those of the first enrol run without keys,
        # if there was one.
        enrolled = enrolled_files[variants[0]]
        household_events = sum(r["created_total"] for p, rs in runs.items() for r in rs)
        # The interventions service learns of households from their events (a batch at a
        # time): how long after the last enrolment it knows every enrolled household.
        caught_up_s = await wait_for_enrolments(db["interventions"], enrolled_count)
        results["interventions_consumer"] = {
            "household_events": household_events,
            "caught_up_after_enrol_s": caught_up_s,
        }

        both = {"interventions-1": interventions}
        if args.phases in ("all", "writes"):
            for index, keyed in enumerate(order):
                name = run_name("interventions", index, keyed)
                print(f"run {name} (1 instance) ...", file=sys.stderr)
                result = await load(
                    "interventions",
                    [interventions.url],
                    keys_file,
                    args,
                    {"interventions": interventions, **relay_side},
                    seconds=args.seconds,
                    given=enrolled,
                    keyed=keyed,
                    run_name=name,
                )
                result["relay"] = await relay_drain([db["interventions"]])
                runs.setdefault(label("interventions_1x", keyed), []).append(result)
                accepted += result["created_total"]
            results["split_1x"] = await group_split(base.kafka_connection(), households_topic)

        if args.phases == "all":
            print("scaling out: a second interventions instance ...", file=sys.stderr)
            env = {**interventions.env, "GAYARI_INTERVENTIONS_HTTP_PORT": str(free_port())}
            second = Service(
                "interventions",
                int(env["GAYARI_INTERVENTIONS_HTTP_PORT"]),
                env,
                work / "interventions-2.log",
            )
            second.start()
            await second.wait_ready()
            split, rebalance_s = await wait_for_split(
                base.kafka_connection(), households_topic, members=2
            )
            results["split_2x"] = {"partitions_per_member": split, "settled_after_s": rebalance_s}

            print("phase interventions (2 instances) ...", file=sys.stderr)
            both = {"interventions-1": interventions, "interventions-2": second}
            result = await load(
                "interventions",
                [interventions.url, second.url],
                keys_file,
                args,
                {**both, **relay_side},
                seconds=args.seconds,
                given=enrolled,
            )
            result["relay"] = await relay_drain([db["interventions"]])
            results["interventions_2x"] = result
            accepted += result["created_total"]

            print("consumer split: a burst of new households ...", file=sys.stderr)
            before = {name: await consumed(s, households_topic) for name, s in both.items()}
            burst = await load(
                "register",
                [registry.url],
                keys_file,
                args,
                registry_side,
                seconds=min(5.0, args.seconds),
            )
            accepted += burst["created_total"]
            async with asyncio.timeout(120):
                while True:
                    after = {name: await consumed(s, households_topic) for name, s in both.items()}
                    delta = {name: after[name] - before[name] for name in both}
                    if sum(delta.values()) >= burst["created_total"]:
                        break
                    await asyncio.sleep(0.3)
            results["consumer_split"] = {
                "household_events": burst["created_total"],
                "applied_per_instance": delta,
            }

        results.update(summarised(runs))
        results["delivery"] = await verify_delivery(
            settings, [db["registry"], db["interventions"]], accepted
        )
        results["peak_rss_mib"] = {
            name: peak_rss_mib(pid_of(s))
            for name, s in {**registry_side, **both, **relay_side}.items()
        }
    finally:
        if second is not None:
            second.kill()
        if isinstance(running, AsyncGenerator):  # kills the services it started
            await running.aclose()
        await databases.drop_all()
        with contextlib.suppress(Exception):
            await delete_topics_with_prefix(base.kafka_connection(), prefix + ".")
    return results


def run_order(mode: str, rounds: int | None) -> list[bool]:
    """Whether each run of a write phase sends keys, in the order they run: with `both`, each
    round one of each, the first round without keys first, the next with them first, and so
    on (a trend over the run then weighs on both ways alike)."""
    if mode != "both":
        return [mode == "on"] * (rounds or 1)
    order: list[bool] = []
    for round_ in range(rounds or 3):
        order += [False, True] if round_ % 2 == 0 else [True, False]
    return order


def combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of a phase, one way, as one: the figures of the median run by req/s (the
    lower of the two middle ones for an even count), with the median req/s, the writes of
    every run summed, and each run's main figures under `rounds` in the order they ran."""
    if len(runs) == 1:
        return runs[0]
    ranked = sorted(runs, key=lambda r: r["requests_per_s"])
    result = dict(ranked[(len(ranked) - 1) // 2])
    result["requests_per_s"] = round(statistics.median(r["requests_per_s"] for r in runs), 1)
    result["ok_per_s"] = round(statistics.median(r["ok_per_s"] for r in runs), 1)
    for count in ("requests", "ok", "errors", "created_total", "behind_schedule"):
        result[count] = sum(r[count] for r in runs)
    statuses: Counter[str] = Counter()
    for r in runs:
        statuses.update(r["statuses"])
    result["statuses"] = dict(sorted(statuses.items()))
    result["error_samples"] = [e for r in runs for e in r["error_samples"]][:5]
    result["relay"] = {
        name: max(r["relay"][name] for r in runs) for name in ("pending_at_end", "drained_after_s")
    }
    # A figure some run could not take (postgres_own) is the median of the runs that did.
    names = dict.fromkeys(name for r in runs for name in r["cpu_ms_per_write"])
    result["cpu_ms_per_write"] = {
        name: round(
            statistics.median(
                r["cpu_ms_per_write"][name] for r in runs if name in r["cpu_ms_per_write"]
            ),
            3,
        )
        for name in names
    }
    result["rounds"] = [
        {
            name: r[name]
            for name in ("requests_per_s", "p50_ms", "p99_ms", "errors", "cpu_ms_per_write")
        }
        | {"other_cpu_pct": r["other_cpu_pct"]}
        for r in runs
    ]
    return result


def summarised(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each phase's runs combined, and what the keys cost where phases ran both ways."""
    out = {phase: combined(phase_runs) for phase, phase_runs in runs.items()}
    costs = key_costs(out)
    return {**out, "idempotency_key_cost": costs} if costs else out


def key_costs(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per write phase run both ways: the change of requests/s with keys, in % (negative:
    fewer), of the two medians (`pct`) and, with several rounds, the median of each round's
    pair (`paired_pct`, with each round's under `rounds_pct`)."""
    costs: dict[str, dict[str, Any]] = {}
    for phase in ("registry_register", "registry_enrol", "interventions_1x"):
        plain, keyed = results.get(phase), results.get(f"{phase}_keyed")
        if not plain or not keyed or not plain["requests_per_s"]:
            continue
        cost: dict[str, Any] = {
            "pct": round(100 * (keyed["requests_per_s"] / plain["requests_per_s"] - 1), 1)
        }
        service = phase.split("_")[0]
        for name, parts in (
            ("service_cpu_per_write_pct", (service,)),
            ("service_and_own_postgres_cpu_per_write_pct", (service, "postgres_own")),
        ):
            plain_cpu = sum(plain["cpu_ms_per_write"].get(part, 0.0) for part in parts)
            keyed_cpu = sum(keyed["cpu_ms_per_write"].get(part, 0.0) for part in parts)
            counted = all(
                part in side["cpu_ms_per_write"] for side in (plain, keyed) for part in parts
            )
            if plain_cpu and counted:
                cost[name] = round(100 * (keyed_cpu / plain_cpu - 1), 1)
        pairs = list(zip(plain.get("rounds", []), keyed.get("rounds", []), strict=True))
        if pairs:
            each = [
                round(100 * (k["requests_per_s"] / p["requests_per_s"] - 1), 1) for p, k in pairs
            ]
            cost["paired_pct"] = round(statistics.median(each), 1)
            cost["rounds_pct"] = each
        costs[phase] = cost
    return costs


def table(results: dict[str, Any]) -> str:
    rows = [
        f"{'phase':<22}{'req/s':>9}{'ok/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}  {'relay pending/drain':<20} cpu % of one core; machine % of all"
    ]
    for label in (
        "registry_register",
        "registry_register_keyed",
        "registry_enrol",
        "registry_enrol_keyed",
        "interventions_1x",
        "interventions_1x_keyed",
        "interventions_2x",
    ):
        r = results.get(label)
        if r is None:
            continue
        cpu = ", ".join(f"{k} {v}" for k, v in r["service_cpu_pct"].items())
        relay = f"{r['relay']['pending_at_end']} / {r['relay']['drained_after_s']} s"
        rows.append(
            f"{label:<22}{r['requests_per_s']:>9}{r['ok_per_s']:>9}{r['p50_ms']:>9}"
            f"{r['p95_ms']:>9}{r['p99_ms']:>9}{r['errors']:>8}  {relay:<20} "
            f"{cpu}, load generator {r['loadgen_cpu_pct']}, other {r['other_cpu_pct']}; "
            f"machine {r['machine_cpu_pct']}"
        )
        if r.get("behind_schedule"):
            rows.append(f"{'':<22}open loop: {r['behind_schedule']} requests never sent in time")
        if "rounds" in r:
            each = ", ".join(f"{x['requests_per_s']}" for x in r["rounds"])
            rows.append(f"{'':<22}req/s of each round: {each} (median above)")
        per_write = ", ".join(f"{k} {v}" for k, v in r["cpu_ms_per_write"].items())
        rows.append(f"{'':<22}CPU ms per write (median): {per_write}")
        if r["errors"]:
            rows.append(f"{'':<22}statuses {r['statuses']} e.g. {r['error_samples'][:2]}")
    for phase, cost in key_costs(results).items():
        paired = (
            f"; median of the rounds' pairs {cost['paired_pct']:+.1f} % ({cost['rounds_pct']})"
            if "paired_pct" in cost
            else ""
        )
        cpu_cost = cost.get("service_cpu_per_write_pct")
        rows.append(
            f"Idempotency-Key on every write, {phase}: {cost['pct']:+.1f} % req/s "
            f"(of the medians){paired}"
            + ("" if cpu_cost is None else f"; service CPU per write {cpu_cost:+.1f} %")
            + (
                f", with its own PostgreSQL backends "
                f"{cost['service_and_own_postgres_cpu_per_write_pct']:+.1f} %"
                if "service_and_own_postgres_cpu_per_write_pct" in cost
                else ""
            )
        )
    if "interventions_consumer" in results:
        rows.append(f"interventions consumer: {results['interventions_consumer']}")
    if "split_2x" in results:
        rows.append(f"partitions of households per instance: {results['split_2x']}")
    if "consumer_split" in results:
        rows.append(f"household events applied per instance: {results['consumer_split']}")
    if "delivery" in results:
        rows.append(f"delivery: {results['delivery']}")
    if "peak_rss_mib" in results:
        rows.append(f"peak RSS MiB: {results['peak_rss_mib']}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=int, default=32, help="connections per instance")
    parser.add_argument("--rate", type=float, default=None, help="open loop: req/s per instance")
    parser.add_argument(
        "--relay",
        choices=("separate", "in-process"),
        default="in-process",
        help="each writer's outbox relay: in the API process, or a process of its own",
    )
    parser.add_argument(
        "--idempotency-keys",
        choices=("off", "on", "both"),
        default="off",
        help="an Idempotency-Key on every write; both: each write phase without, then with",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="runs of each write phase each way (default: 3 with --idempotency-keys both, "
        "interleaved; else 1)",
    )
    parser.add_argument("--log-level", default="WARNING", choices=("INFO", "WARNING", "ERROR"))
    parser.add_argument(
        "--phases",
        default="all",
        choices=("all", "writes", "registry"),
        help="registry: only register and enrol (and the consumer catching up), then verify; "
        "writes: those and interventions on one instance, not the scaling out",
    )
    parser.add_argument(
        "--py-spy", type=Path, default=None, help="record py-spy profiles of the services here"
    )
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "bench_http.json")
    args = parser.parse_args()
    args.databases = []  # the services' databases, once they run
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(run(args))
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
