"""The Kafka boundary, proved from outside: Kafka's own console producer and consumer (clients
nobody here wrote) against the real, secured local stack, logged in as the real per-agency
principals with the client settings the stack hands out (<cache>/credentials/kafka/).

The deployment's ACL set (deploy/local/principals.py) is applied to this test's own topics, so
the stack's topics are left alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from deploy.local import principals
from gayari_shared.settings import CommonSettings
from tests import kafka_console
from tests.kafka_tools import read_topic
from tests.processes import service_acls

pytestmark = [pytest.mark.stack, pytest.mark.security]


GROUP = f"acl-{uuid.uuid4().hex[:8]}"  # reporting's groups in these tests start with it


@pytest.fixture
async def secured(isolated_settings: CommonSettings) -> AsyncIterator[CommonSettings]:
    if not isolated_settings.kafka_connection().secured:
        pytest.fail("the stack runs GAYARI_STACK_SECURITY=plaintext: these tests need it secure")
    async with service_acls(isolated_settings, GROUP):
        yield isolated_settings


def record(agency: str) -> tuple[str, str, dict[str, str]]:
    key = str(uuid.uuid4())
    return key, json.dumps({"agency": agency, "probe": key}), {"ce_source": f"/agencies/{agency}"}


def agency(code: str) -> Path:
    return kafka_console.client_properties(principals.agency_user(code))


def with_lines(tmp_path: Path, source: Path, replace: dict[str, str]) -> Path:
    """`source` with some properties replaced (e.g. the protocol, the password)."""
    lines = []
    for line in source.read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={replace[name]}" if name in replace else line)
    path = tmp_path / f"{uuid.uuid4().hex}.properties"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_an_agency_publishes_into_its_own_intake(secured: CommonSettings) -> None:
    key, value, headers = record("dinsos")
    sent = kafka_console.produce(agency("dinsos"), secured.intake_topic("dinsos"), [record("x")])
    assert sent.returncode == 0, sent.stderr[-2000:]
    sent = kafka_console.produce(
        agency("dinsos"), secured.intake_topic("dinsos"), [(key, value, headers)]
    )
    assert sent.returncode == 0, sent.stderr[-2000:]
    stored = await read_topic(secured.kafka_connection(), secured.intake_topic("dinsos"), 2)
    assert key.encode() in {r.key for r in stored}
    assert dict(next(r for r in stored if r.key == key.encode()).headers)["ce_source"] == (
        b"/agencies/dinsos"
    )


async def test_an_agency_cannot_publish_into_another_agencys_intake(
    secured: CommonSettings,
) -> None:
    sent = kafka_console.produce(agency("dinsos"), secured.intake_topic("dispar"), [record("x")])
    assert sent.returncode != 0
    assert "TopicAuthorizationException" in sent.stdout + sent.stderr, sent.stderr[-2000:]
    assert await read_topic(secured.kafka_connection(), secured.intake_topic("dispar"), 0) == []


async def test_an_agency_cannot_read_the_households_topic(secured: CommonSettings) -> None:
    read = kafka_console.consume(agency("dinsos"), secured.topic("households"))
    # The console consumer exits 0 whatever happened; its log says what (on stdout).
    output = read.stdout + read.stderr
    assert "TopicAuthorizationException" in output, output[-2000:]
    assert "Processed a total of 0 messages" in output


async def test_an_agency_cannot_read_its_own_intake_either(secured: CommonSettings) -> None:
    read = kafka_console.consume(agency("dinsos"), secured.intake_topic("dinsos"))
    output = read.stdout + read.stderr
    assert "AuthorizationException" in output, output[-2000:]
    assert "Processed a total of 0 messages" in output


async def test_a_wrong_password_is_refused(secured: CommonSettings, tmp_path: Path) -> None:
    source = agency("dinsos")
    jaas = next(
        line.split("=", 1)[1]
        for line in source.read_text().splitlines()
        if line.startswith("sasl.jaas.config=")
    )
    wrong = with_lines(
        tmp_path,
        source,
        {"sasl.jaas.config": jaas.replace('password="', 'password="not-', 1)},
    )
    sent = kafka_console.produce(wrong, secured.intake_topic("dinsos"), [record("x")])
    assert sent.returncode != 0
    assert "SaslAuthenticationException" in sent.stdout + sent.stderr, sent.stderr[-2000:]


async def test_a_plaintext_connection_is_refused(secured: CommonSettings, tmp_path: Path) -> None:
    plain = tmp_path / "plain.properties"
    bootstrap = kafka_console.bootstrap_of(agency("dinsos"))
    plain.write_text(f"bootstrap.servers={bootstrap}\nsecurity.protocol=PLAINTEXT\n")
    sent = kafka_console.produce(plain, secured.intake_topic("dinsos"), [record("x")])
    assert sent.returncode != 0, sent.stdout
    assert await read_topic(secured.kafka_connection(), secured.intake_topic("dinsos"), 0) == []


async def test_reporting_reads_the_dead_letters_and_an_agency_does_not(
    secured: CommonSettings,
) -> None:
    """Reporting counts intake refusals from the dead letters in a group of its own."""
    producer = AIOKafkaProducer(**secured.kafka_connection().client_options())
    await producer.start()
    try:
        await producer.send_and_wait(secured.deadletter_topic, b"refused", key=b"k")
    finally:
        await producer.stop()
    reporting = kafka_console.client_properties(principals.service_user("reporting"))
    read = kafka_console.consume(reporting, secured.deadletter_topic, group=f"{GROUP}-refusals")
    assert read.stdout.splitlines()[-1:] == ["refused"], read.stdout[-2000:] + read.stderr
    denied = kafka_console.consume(agency("dinsos"), secured.deadletter_topic)
    assert "AuthorizationException" in denied.stdout + denied.stderr
    assert "refused" not in denied.stdout.splitlines()
