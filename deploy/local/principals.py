"""Who may do what on the local Kafka: SCRAM principals, their ACLs, their credential files.

* ``User:agency-<code>``, one per configured agency (``GAYARI_AGENCIES``): WRITE and DESCRIBE
  its own ``<prefix>.intake.<code>``, nothing else;
* ``User:service-{registry,interventions,reporting}``: the topics and consumer groups that
  service uses (``acl_bindings``); its relay and the replay command run as it;
* ``User:admin``: super user; the broker logs in as it, the stack and the tests' fixtures use it.

Everything else is denied (``allow.everyone.if.no.acl.found=false``). Passwords are generated
once into ``<cache>/credentials/kafka/<principal>/`` with ready-made client settings beside them
(deploy/local/README.md, "Credentials").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from gayari_shared.events.contracts import HOUSEHOLDS, INTERVENTIONS
from gayari_shared.kafka.topics import domain_topics
from gayari_shared.settings import CommonSettings

SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
ADMIN_USER = "admin"
AGENCY_USER_PREFIX = "agency-"
SERVICE_USER_PREFIX = "service-"
SERVICES = ("registry", "interventions", "reporting")
# Consumer groups of the services (services/*: GROUP_ID, INTAKE_GROUP_ID, consumer_group).
SERVICE_GROUPS: dict[str, tuple[str, ...]] = {
    "registry": (),
    "interventions": ("gayari-interventions", "gayari-interventions-intake"),
    # The projector's group, and the one counting intake refusals from the dead letters.
    "reporting": ("gayari-reporting", "gayari-reporting-refusals"),
}
# PostgreSQL roles of the local stack: (role, database, extra attributes). gayari_test owns the
# tests' throw-away databases.
PG_ROLES: tuple[tuple[str, str, str], ...] = (
    ("gayari_registry", "gayari_registry", "NOCREATEDB"),
    ("gayari_interventions", "gayari_interventions", "NOCREATEDB"),
    ("gayari_reporting", "gayari_reporting", "NOCREATEDB"),
    ("gayari_test", "gayari_test", "CREATEDB"),
)


class ProvisionError(Exception):
    """Users, topics or ACLs could not be put in place."""


# --------------------------------------------------------------------------- Kafka wire enums


class ResourceType(IntEnum):
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class PatternType(IntEnum):
    ANY = 1
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8


class Permission(IntEnum):
    ANY = 1
    DENY = 2
    ALLOW = 3


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ALLOW rule: ``principal`` may ``operation`` on a literal resource, from any host."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    operation: Operation
    pattern_type: PatternType = PatternType.LITERAL
    host: str = "*"
    permission: Permission = Permission.ALLOW


# --------------------------------------------------------------------------- principals + ACLs


def agency_user(code: str) -> str:
    return f"{AGENCY_USER_PREFIX}{code}"


def service_user(service: str) -> str:
    return f"{SERVICE_USER_PREFIX}{service}"


def users(settings: CommonSettings) -> list[str]:
    """Every SCRAM user, the super user first."""
    return [
        ADMIN_USER,
        *(agency_user(agency.code) for agency in settings.agencies),
        *(service_user(service) for service in SERVICES),
    ]


def acl_bindings(
    settings: CommonSettings, groups: dict[str, tuple[str, ...]] | None = None
) -> list[AclBinding]:
    """The whole ACL set of a deployment (admin needs none: it is a super user)."""
    groups = SERVICE_GROUPS if groups is None else groups
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    read, write, describe = Operation.READ, Operation.WRITE, Operation.DESCRIBE
    households = settings.topic(HOUSEHOLDS)
    interventions = settings.topic(INTERVENTIONS)
    intakes = [settings.intake_topic(agency.code) for agency in settings.agencies]
    # Each service ensures every topic of the deployment at start (gayari_shared.kafka.topics):
    # DESCRIBE on all of them lets it see they exist, so it never tries to create one.
    every_topic = [spec.name for spec in domain_topics(settings)]

    rules: list[AclBinding] = []
    for agency in settings.agencies:
        user = f"User:{agency_user(agency.code)}"
        own = settings.intake_topic(agency.code)
        rules += [AclBinding(user, topic, own, op) for op in (write, describe)]

    def service(name: str, reads: list[str], writes: list[str]) -> None:
        user = f"User:{service_user(name)}"
        rules.extend(AclBinding(user, topic, name_, describe) for name_ in every_topic)
        rules.extend(AclBinding(user, topic, name_, read) for name_ in reads)
        rules.extend(AclBinding(user, topic, name_, write) for name_ in writes)
        rules.extend(AclBinding(user, group, g, read) for g in groups.get(name, ()))

    service("registry", reads=[], writes=[households])
    service(
        "interventions",
        reads=[households, *intakes],
        writes=[interventions, settings.deadletter_topic],
    )
    # Reporting counts the intake refusals from the dead letters, and dead-letters what it
    # cannot project (gayari_reporting.bootstrap).
    service(
        "reporting",
        reads=[households, interventions, settings.deadletter_topic],
        writes=[settings.deadletter_topic],
    )
    return sorted(set(rules))


def managed(acl: AclBinding, settings: CommonSettings) -> bool:
    """ACLs of our principals on this deployment's topics and groups are ours: stale ones (e.g.
    a removed agency's) are deleted. Those on other prefixes (the tests' own, applied by their
    fixtures while they run) are left alone."""
    ours = acl.principal.startswith((f"User:{AGENCY_USER_PREFIX}", f"User:{SERVICE_USER_PREFIX}"))
    if acl.resource_type is ResourceType.TOPIC:
        return ours and acl.resource_name.startswith(settings.topic_prefix + ".")
    groups = {group for names in SERVICE_GROUPS.values() for group in names}
    return ours and acl.resource_name in groups


def acl_table(settings: CommonSettings) -> str:
    lines = ["principal | resource | name | operation", "---|---|---|---"]
    lines += [
        f"{acl.principal} | {acl.resource_type.name.lower()} | {acl.resource_name} | "
        f"{acl.operation.name}"
        for acl in acl_bindings(settings)
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- credential files


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


def jaas(module: str, user: str, password: str, extra: str = "") -> str:
    return f'{module} required username="{user}" password="{password}"{extra};'


SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"


def read_env_file(path: Path) -> dict[str, str]:
    """A ``gayari.env`` file: ``NAME=value`` lines, ``#`` comments."""
    env: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                env[name.strip()] = value.strip()
    return env


@dataclass(frozen=True)
class Credentials:
    """<cache>/credentials: one directory per principal (Kafka) and per role (PostgreSQL)."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    def kafka_dir(self, principal: str) -> Path:
        return self.directory / "kafka" / principal

    def postgres_dir(self, role: str) -> Path:
        return self.directory / "postgres" / role

    def kafka_env(self, principal: str) -> dict[str, str]:
        return read_env_file(self.kafka_dir(principal) / "gayari.env")

    def postgres_env(self, role: str) -> dict[str, str]:
        return read_env_file(self.postgres_dir(role) / "gayari.env")

    def _password(self, directory: Path) -> str:
        path = directory / "password"
        with contextlib.suppress(OSError):
            if stored := path.read_text().strip():
                return stored
        # URL-safe base64: nothing to escape in JAAS, --add-scram, a URL or a properties file.
        password = secrets.token_urlsafe(24)
        write_private(path, password + "\n")
        return password

    def kafka_password(self, principal: str) -> str:
        return self._password(self.kafka_dir(principal))

    def postgres_password(self, role: str) -> str:
        return self._password(self.postgres_dir(role))

    def prepare(self, ca_source: Path) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        self.ca.write_bytes(ca_source.read_bytes())
        self.ca.chmod(0o644)

    def write_kafka_client(self, principal: str, bootstrap: str, secured: bool) -> None:
        """The same identity for every kind of client: Java (`client.properties`), librdkafka
        (`librdkafka.conf`: kcat -F, confluent-kafka) and this project (`gayari.env`)."""
        directory = self.kafka_dir(principal)
        password = self.kafka_password(principal)
        pw_file = directory / "password"
        if secured:
            java = (
                f"bootstrap.servers={bootstrap}\nsecurity.protocol=SASL_SSL\n"
                f"sasl.mechanism={SCRAM_MECHANISM}\n"
                f"sasl.jaas.config={jaas(SCRAM_MODULE, principal, password)}\n"
                f"ssl.truststore.type=PEM\nssl.truststore.location={self.ca}\n"
            )
            rdkafka = (
                f"bootstrap.servers={bootstrap}\nsecurity.protocol=SASL_SSL\n"
                f"sasl.mechanisms={SCRAM_MECHANISM}\nsasl.username={principal}\n"
                f"sasl.password={password}\nssl.ca.location={self.ca}\n"
            )
            gayari = (
                f"GAYARI_KAFKA_BOOTSTRAP_SERVERS={bootstrap}\n"
                "GAYARI_KAFKA_SECURITY_PROTOCOL=SASL_SSL\n"
                f"GAYARI_KAFKA_SASL_MECHANISM={SCRAM_MECHANISM}\n"
                f"GAYARI_KAFKA_SASL_USERNAME={principal}\n"
                f"GAYARI_KAFKA_SASL_PASSWORD_FILE={pw_file}\n"
                f"GAYARI_KAFKA_SSL_CAFILE={self.ca}\n"
            )
        else:
            java = f"bootstrap.servers={bootstrap}\nsecurity.protocol=PLAINTEXT\n"
            rdkafka = java
            gayari = (
                f"GAYARI_KAFKA_BOOTSTRAP_SERVERS={bootstrap}\n"
                "GAYARI_KAFKA_SECURITY_PROTOCOL=PLAINTEXT\n"
            )
        write_private(directory / "client.properties", java)
        write_private(directory / "librdkafka.conf", rdkafka)
        write_private(directory / "gayari.env", gayari)

    def write_postgres_client(self, role: str, port: int, secured: bool) -> None:
        """`gayari.env`: the service's GAYARI_<SERVICE>_DATABASE_* (for gayari_test: the
        tests' GAYARI_TEST_DATABASE_URL, password and CA in its query)."""
        directory = self.postgres_dir(role)
        password = self.postgres_password(role)
        sslmode = "verify-full" if secured else "disable"
        base = f"127.0.0.1:{port}/{role}"
        if role == "gayari_test":
            query = f"sslmode={sslmode}" + (f"&sslrootcert={self.ca}" if secured else "")
            text = f"GAYARI_TEST_DATABASE_URL=postgresql://{role}:{password}@{base}?{query}\n"
        else:
            prefix = "GAYARI_" + role.removeprefix("gayari_").upper() + "_DATABASE"
            text = (
                f"{prefix}_URL=postgresql://{role}@{base}\n"
                f"{prefix}_PASSWORD_FILE={directory / 'password'}\n"
                f"{prefix}_SSLMODE={sslmode}\n"
                + (f"{prefix}_SSLROOTCERT={self.ca}\n" if secured else "")
            )
        write_private(directory / "gayari.env", text)


# --------------------------------------------------------------------------- ACLs on the wire


async def describe_acls(admin: Any) -> set[AclBinding]:
    """Every ACL the broker's authorizer holds (DescribeAcls, answered by the broker)."""
    request = DescribeAclsRequest(
        ResourceType.ANY, None, PatternType.ANY, None, None, Operation.ANY, Permission.ANY
    )
    response = await admin._send_request(request)  # aiokafka has no public ACL API
    if response.error_code:
        raise ProvisionError(f"DescribeAcls failed: {response.error_message}")
    found: set[AclBinding] = set()
    for rtype, name, pattern, acls in response.resources:
        for principal, host, op, perm in acls:
            with contextlib.suppress(ValueError):  # a kind of ACL this tool does not manage
                found.add(
                    AclBinding(
                        principal,
                        ResourceType(rtype),
                        name,
                        Operation(op),
                        PatternType(pattern),
                        host,
                        Permission(perm),
                    )
                )
    return found


async def create_acls(admin: Any, acls: Iterable[AclBinding]) -> None:
    await asyncio.gather(*(_create_acl(admin, acl) for acl in acls))


async def _create_acl(admin: Any, acl: AclBinding) -> None:
    request = CreateAclsRequest(
        acl.resource_type, acl.resource_name, acl.pattern_type, acl.principal, acl.host,
        acl.operation, acl.permission,
    )  # fmt: skip
    response = await admin._send_request(request)
    for error_code, error_message in response.creation_responses:
        if error_code:
            raise ProvisionError(f"CreateAcls {acl} failed: {error_message}")


async def delete_acls(admin: Any, acls: Iterable[AclBinding]) -> None:
    for acl in acls:
        request = DeleteAclsRequest(
            acl.resource_type, acl.resource_name, acl.pattern_type, acl.principal, acl.host,
            acl.operation, acl.permission,
        )  # fmt: skip
        response = await admin._send_request(request)
        for error_code, error_message, _ in response.filter_responses:
            if error_code:
                raise ProvisionError(f"DeleteAcls {acl} failed: {error_message}")
