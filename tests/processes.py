"""The services as real processes for the e2e and fault suites: started, killed, restarted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from deploy.local import principals
from gayari_shared.kafka.topics import domain_topics, ensure_topics
from gayari_shared.settings import CommonSettings
from tests.conftest import CREDENTIALS, DatabaseFactory

BIN = Path(sys.executable).parent
SERVICES = ("registry", "interventions", "reporting")


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Below the kernel's ephemeral range: a service binds its port only after its start-up
# (migrations, joining its consumer group), and a port the kernel hands out meanwhile to some
# outgoing connection was seen taken ("address already in use") in the Kafka-outage case.
_PORTS: Final = range(20000, min(_ephemeral_start(), 32768))
_handed_out: set[int] = set()


def free_port() -> int:
    """A port free now, outside the ephemeral range, not handed out before in this run."""
    for port in random.sample(_PORTS, len(_PORTS)):
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


@dataclass
class Service:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(BIN / f"gayari-{self.name}")],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    async def wait_ready(self, timeout_s: float = 90) -> None:
        async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(timeout_s):
            while True:
                assert self.process is not None and self.process.poll() is None, (
                    self.log.read_text()[-3000:]
                )
                try:
                    if (await client.get(f"{self.url}/health/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)

    def stop_gracefully(self) -> tuple[int, float]:
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=15)
        return code, time.monotonic() - started

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return lines


async def running_services(
    databases: DatabaseFactory,
    settings: CommonSettings,
    directory: Path,
    names: tuple[str, ...] = SERVICES,
    separate_relays: tuple[str, ...] = (),
) -> AsyncIterator[dict[str, Service]]:
    """Each service on a free port with a database of its own; all killed at the end. The
    services in `separate_relays` publish through a relay process of their own, named
    "<service>-relay" in what is yielded."""
    group = f"e2e-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "GAYARI_TOPIC_PREFIX": settings.topic_prefix,
        "GAYARI_API_KEYS_FILE": str(settings.api_keys_file),
        "GAYARI_REPORTING_CONSUMER_GROUP": group,
    }
    async with service_acls(settings, group):
        async for running in _started(databases, env, directory, names, separate_relays):
            yield running


@contextlib.asynccontextmanager
async def service_acls(settings: CommonSettings, reporting_group: str) -> AsyncIterator[None]:
    """The production ACL set (deploy/local/principals.py) on this test's topics: its services
    run as their own principals, with no right beyond what they have in a deployment (the
    fixed consumer groups have their ACLs from the stack). The topics are created first (by
    the administrator, as the stack does); the test's ACLs are deleted afterwards."""
    kafka = settings.kafka_connection()
    await ensure_topics(kafka, domain_topics(settings))
    if not kafka.secured:
        yield
        return
    # The reporting processes' groups (its projector's, its refusals', a replay's) all start
    # with this test's group name: one PREFIXED group ACL.
    mine = [
        acl
        for acl in principals.acl_bindings(settings, {})
        if acl.resource_type is principals.ResourceType.TOPIC
    ]
    mine.append(
        principals.AclBinding(
            f"User:{principals.service_user('reporting')}",
            principals.ResourceType.GROUP,
            reporting_group,
            principals.Operation.READ,
            principals.PatternType.PREFIXED,
        )
    )
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        await principals.create_acls(admin, mine)
        yield
    finally:
        await principals.delete_acls(admin, mine)
        await admin.close()


def service_env(name: str) -> dict[str, str]:
    """A service process's own Kafka principal (a relay runs as its service)."""
    return CREDENTIALS.kafka_env(principals.service_user(name.removesuffix("-relay")))


def migrate(name: str, env: dict[str, str], log: Path) -> None:
    """`gayari-<service>-migrate up`, as a deployment runs it before the service starts."""
    with log.open("ab") as out:
        done = subprocess.run(
            [str(BIN / f"gayari-{name}-migrate"), "up"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    assert done.returncode == 0, log.read_text()[-3000:]


async def _started(
    databases: DatabaseFactory,
    env: dict[str, str],
    directory: Path,
    names: tuple[str, ...],
    separate_relays: tuple[str, ...],
) -> AsyncIterator[dict[str, Service]]:
    running: dict[str, Service] = {}
    for name in names:
        port = free_port()
        env[f"GAYARI_{name.upper()}_DATABASE_URL"] = await databases.create(name)
        env[f"GAYARI_{name.upper()}_HTTP_PORT"] = str(port)
    for name in separate_relays:
        env[f"GAYARI_{name.upper()}_OUTBOX_RELAY"] = "separate"
        env[f"GAYARI_{name.upper()}_RELAY_HTTP_PORT"] = str(free_port())
    processes = [(name, f"GAYARI_{name.upper()}_HTTP_PORT") for name in names]
    processes += [
        (f"{name}-relay", f"GAYARI_{name.upper()}_RELAY_HTTP_PORT") for name in separate_relays
    ]
    for name in names:
        migrate(name, {**env, **service_env(name)}, directory / f"{name}-migrate.log")
    for name, port_variable in processes:
        own = {**env, **service_env(name)}
        service = Service(name, int(env[port_variable]), own, directory / f"{name}.log")
        service.start()
        running[name] = service
    try:
        for service in running.values():
            await service.wait_ready()
        yield running
    finally:
        for service in running.values():
            service.kill()
