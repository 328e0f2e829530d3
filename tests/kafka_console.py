"""Kafka's own console producer and consumer: external clients nobody here wrote.

They run from the jars of `org.apache.kafka:kafka-tools` (resolved once into the cache by
deploy/local/stack.py, `make test-tools`), logged in with a principal's `client.properties` from
<cache>/credentials (Debian's kcat cannot: its librdkafka's SCRAM is refused by Kafka 4).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from deploy.local.config import Config, stack_lock
from deploy.local.kafka_broker import Kafka
from tests.conftest import CREDENTIALS

TIMEOUT_S = 90


@functools.cache
def tools_class_path() -> str:
    cfg = Config.from_env()
    with stack_lock(cfg):
        libs = Kafka(cfg).ensure_tools_libs()
    return f"{libs}/*"


def _java(main: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    java = shutil.which("java") or "java"
    command = [java, "-Xmx256m", "-cp", tools_class_path(), main, *args]
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def client_properties(principal: str) -> Path:
    return CREDENTIALS.kafka_dir(principal) / "client.properties"


def bootstrap_of(properties: Path) -> str:
    for line in properties.read_text().splitlines():
        if line.startswith("bootstrap.servers="):
            return line.split("=", 1)[1]
    raise AssertionError(f"no bootstrap.servers in {properties}")


def produce(
    properties: Path,
    topic: str,
    records: Sequence[tuple[str, str, dict[str, str]]],
) -> subprocess.CompletedProcess[str]:
    """Each record as `headers<TAB>key<TAB>value`; the producer waits for every ack (acks=all)
    and fails on the first error, exiting non-zero."""
    lines = [
        ",".join(f"{name}:{text}" for name, text in headers.items()) + f"\t{key}\t{value}"
        for key, value, headers in records
    ]
    return _java(
        "org.apache.kafka.tools.ConsoleProducer",
        "--bootstrap-server", bootstrap_of(properties),
        "--topic", topic,
        "--producer.config", str(properties),
        "--producer-property", "acks=all",
        "--producer-property", "max.block.ms=15000",
        "--producer-property", "delivery.timeout.ms=20000",
        "--producer-property", "request.timeout.ms=10000",
        "--sync",
        "--property", "parse.key=true",
        "--property", "parse.headers=true",
        stdin="\n".join(lines) + "\n",
    )  # fmt: skip


def consume(
    properties: Path,
    topic: str,
    max_messages: int = 1,
    timeout_ms: int = 15000,
    group: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Prints each value on a line; without `group`, the tool picks a random one."""
    return _java(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--bootstrap-server", bootstrap_of(properties),
        "--topic", topic,
        "--consumer.config", str(properties),
        "--from-beginning",
        "--max-messages", str(max_messages),
        "--timeout-ms", str(timeout_ms),
        *(["--group", group] if group else []),
    )  # fmt: skip
