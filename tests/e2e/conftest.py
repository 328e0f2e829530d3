"""Fixtures of the e2e suite: the three services as real processes, each run with databases,
topics and API keys of its own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return lines


@pytest.fixture
async def services(
    databases: DatabaseFactory, isolated_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[dict[str, Service]]:
    env = {
        **os.environ,
        "GAYARI_TOPIC_PREFIX": isolated_settings.topic_prefix,
        "GAYARI_API_KEYS_FILE": str(isolated_settings.api_keys_file),
        "GAYARI_REPORTING_CONSUMER_GROUP": f"e2e-{uuid.uuid4().hex[:8]}",
    }
    running: dict[str, Service] = {}
    for name in ("registry", "interventions", "reporting"):
        port = free_port()
        env[f"GAYARI_{name.upper()}_DATABASE_URL"] = await databases.create(name)
        env[f"GAYARI_{name.upper()}_HTTP_PORT"] = str(port)
        log = tmp_path / f"{name}.log"
        process = subprocess.Popen(
            [str(BIN / f"gayari-{name}")],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        running[name] = Service(name, port, process, log)
    try:
        async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(90):
            for service in running.values():
                while True:
                    assert service.process.poll() is None, service.log.read_text()[-3000:]
                    try:
                        if (await client.get(f"{service.url}/health/ready")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.3)
        yield running
    finally:
        for service in running.values():
            if service.process.poll() is None:
                service.process.kill()
                service.process.wait()


def stop_gracefully(service: Service) -> tuple[int, float]:
    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    code = service.process.wait(timeout=15)
    return code, time.monotonic() - started
