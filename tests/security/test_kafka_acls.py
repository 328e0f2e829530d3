"""The local Kafka's security profile, proved with real clients against a real broker.

Starts its own SASL/SCRAM + ACL broker (deploy/local/security/secure_stack.py) on free ports with
a throw-away data dir, and stops it at the end, even on failure. The default stack is not used.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.conn import create_conn
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)

from gayari_shared.agencies import DEFAULT_AGENCIES

pytestmark = pytest.mark.security

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "deploy" / "local" / "security" / "secure_stack.py"
PREFIX = "gayari"
# A fifth agency by configuration alone: it gets a user and ACLs like the four.
EXTRA_AGENCY = {"code": "dlh", "name": "Dinas Lingkungan Hidup", "name_en": "Environment"}
START_TIMEOUT_S = 180
WAIT_S = 20.0


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class SecureBroker:
    bootstrap: str
    port: int
    secrets: Path

    def password(self, user: str) -> str:
        return (self.secrets / f"{user}.password").read_text().strip()

    def client(self, user: str, password: str | None = None) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": user,
            "sasl_plain_password": self.password(user) if password is None else password,
            "request_timeout_ms": 10000,
        }


def _run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), command],
        env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def secure_kafka() -> Iterator[SecureBroker]:
    workdir = Path(tempfile.mkdtemp(prefix="gayari-kafka-secure-"))
    port, controller = _free_ports(2)
    agencies = [agency.model_dump() for agency in DEFAULT_AGENCIES] + [EXTRA_AGENCY]
    env = {
        **os.environ,
        "GAYARI_KAFKA_SECURE_DIR": str(workdir),
        "GAYARI_KAFKA_SECURE_PORT": str(port),
        "GAYARI_KAFKA_SECURE_CONTROLLER_PORT": str(controller),
        "GAYARI_KAFKA_HEAP": "512m",
        "GAYARI_TOPIC_PREFIX": PREFIX,
        "GAYARI_AGENCIES": json.dumps(agencies),
    }
    stopped = False
    try:
        started = _run("start", env)
        if started.returncode != 0:
            pytest.fail(f"secure_stack.py start failed:\n{started.stdout}{started.stderr}")
        yield SecureBroker(f"127.0.0.1:{port}", port, workdir / "secrets")
    finally:
        stop = _run("stop", env)
        stopped = stop.returncode == 0
        if stopped:
            shutil.rmtree(workdir, ignore_errors=True)
    if not stopped:
        pytest.fail(f"secure_stack.py stop failed (left {workdir}):\n{stop.stdout}{stop.stderr}")


def intake(agency: str) -> str:
    return f"{PREFIX}.intake.{agency}"


HOUSEHOLDS = f"{PREFIX}.households"
INTERVENTIONS = f"{PREFIX}.interventions"
DEADLETTER = f"{PREFIX}.deadletter"


async def _produce(broker: SecureBroker, user: str, topic: str, key: bytes) -> None:
    producer = AIOKafkaProducer(**broker.client(user), acks="all")
    try:
        await producer.start()
        await producer.send_and_wait(topic, b"{}", key=key)
    finally:
        await producer.stop()


async def _consume(
    broker: SecureBroker, user: str, topic: str, group: str | None, key: bytes | None = None
) -> bytes:
    """The key of the first record (or of the one with ``key``) read from the start of a topic."""
    consumer = AIOKafkaConsumer(
        topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
        **broker.client(user),
    )  # fmt: skip
    try:
        await consumer.start()
        async with asyncio.timeout(WAIT_S):
            while True:
                record = await consumer.getone()
                if key is None or record.key == key:
                    return bytes(record.key)
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------- agencies


async def test_an_agency_writes_its_own_intake_topic_and_no_other(
    secure_kafka: SecureBroker,
) -> None:
    key = uuid.uuid4().bytes
    await _produce(secure_kafka, "agency-dispar", intake("dispar"), key)  # allowed
    await _produce(secure_kafka, "agency-dlh", intake("dlh"), key)  # the configured fifth one
    for foreign in (intake("dinsos"), intake("dlh"), HOUSEHOLDS, INTERVENTIONS):
        with pytest.raises(TopicAuthorizationFailedError):
            await _produce(secure_kafka, "agency-dispar", foreign, key)


async def test_an_agency_cannot_read_the_platforms_topics(secure_kafka: SecureBroker) -> None:
    for topic in (HOUSEHOLDS, intake("dinsos"), intake("dispar")):
        with pytest.raises(TopicAuthorizationFailedError):
            await _consume(secure_kafka, "agency-dispar", topic, group=None)


async def test_a_wrong_password_or_an_unknown_user_is_refused(
    secure_kafka: SecureBroker,
) -> None:
    login = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512"}
    right = await create_conn(
        "127.0.0.1", secure_kafka.port, **login,
        sasl_plain_username="agency-dinsos",
        sasl_plain_password=secure_kafka.password("agency-dinsos"),
    )  # fmt: skip
    right.close()
    for user, password in (("agency-dinsos", "not-the-password"), ("nobody", "x")):
        with pytest.raises(SaslAuthenticationFailed):
            await create_conn(
                "127.0.0.1", secure_kafka.port, **login,
                sasl_plain_username=user, sasl_plain_password=password,
            )  # fmt: skip
    producer = AIOKafkaProducer(**secure_kafka.client("agency-dinsos", "not-the-password"))
    try:
        with pytest.raises(KafkaConnectionError):
            await producer.start()
    finally:
        await producer.stop()


# --------------------------------------------------------------------------- services


async def test_the_services_can_do_what_they_need(secure_kafka: SecureBroker) -> None:
    household = uuid.uuid4().bytes
    await _produce(secure_kafka, "service-registry", HOUSEHOLDS, household)
    got = await _consume(
        secure_kafka, "service-reporting", HOUSEHOLDS, "gayari-reporting", household
    )
    assert got == household
    got = await _consume(
        secure_kafka, "service-interventions", HOUSEHOLDS, "gayari-interventions", household
    )
    assert got == household

    record = uuid.uuid4().bytes
    await _produce(secure_kafka, "agency-dinsos", intake("dinsos"), record)
    got = await _consume(
        secure_kafka, "service-interventions", intake("dinsos"), "gayari-interventions-intake",
        record,
    )  # fmt: skip
    assert got == record
    await _produce(secure_kafka, "service-interventions", INTERVENTIONS, record)
    await _produce(secure_kafka, "service-interventions", DEADLETTER, record)
    got = await _consume(
        secure_kafka, "service-reporting", INTERVENTIONS, "gayari-reporting", record
    )
    assert got == record
    got = await _consume(
        secure_kafka, "service-reporting", DEADLETTER, "gayari-reporting-refusals", record
    )
    assert got == record


async def test_the_services_are_limited_to_their_own_topics_and_groups(
    secure_kafka: SecureBroker,
) -> None:
    key = uuid.uuid4().bytes
    for user, topic in (
        ("service-registry", INTERVENTIONS),
        ("service-reporting", INTERVENTIONS),
        ("service-reporting", HOUSEHOLDS),
        ("service-interventions", HOUSEHOLDS),
        ("service-interventions", intake("dinsos")),
    ):
        with pytest.raises(TopicAuthorizationFailedError):
            await _produce(secure_kafka, user, topic, key)
    # reporting sees the intake topic exists (DESCRIBE) but may not read it
    await _produce(secure_kafka, "agency-distakan", intake("distakan"), key)
    with pytest.raises(TopicAuthorizationFailedError):
        await _consume(secure_kafka, "service-reporting", intake("distakan"), "gayari-reporting")
    with pytest.raises(GroupAuthorizationFailedError):
        await _consume(secure_kafka, "service-reporting", HOUSEHOLDS, "gayari-interventions")
