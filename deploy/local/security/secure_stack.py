"""The local Kafka's opt-in SECURITY PROFILE: SASL/SCRAM users and ACLs (KRaft StandardAuthorizer).

A second, separate single-node Kafka (own ports, own data dir, same jars as deploy/local/stack.py)
where every client must log in with SCRAM-SHA-512 and may only do what its ACLs allow:

* one principal per agency, ``User:agency-<code>`` (the four default agencies and any configured
  in ``GAYARI_AGENCIES``): WRITE (and DESCRIBE) its own ``<prefix>.intake.<code>`` only;
* one per service, ``User:service-{registry,interventions,reporting}``: the topics and consumer
  groups that service uses;
* ``User:admin``: super user; the broker itself logs in as it.

Usage::

    .venv/bin/python deploy/local/security/secure_stack.py {start,stop,status,acls}

The default, unsecured stack (stack.py) is neither changed nor touched. See deploy/local/README.md
("Security profile") for the listener layout, the principals, the ACL table and the variables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:  # run as a script: make `deploy.local.stack` importable
    sys.path.insert(0, str(REPO_ROOT))

from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402
from aiokafka.errors import TopicAlreadyExistsError  # noqa: E402
from aiokafka.protocol.admin import (  # noqa: E402
    CreateAclsRequest,
    DeleteAclsRequest,
    DescribeAclsRequest,
)

from deploy.local import stack  # noqa: E402
from gayari_shared.events.contracts import HOUSEHOLDS, INTERVENTIONS  # noqa: E402
from gayari_shared.kafka.topics import FULL_REPLAY_CONFIG, domain_topics  # noqa: E402
from gayari_shared.settings import CommonSettings, load_settings  # noqa: E402

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
DEFAULT_PORT = 29092
DEFAULT_CONTROLLER_PORT = 29093
ACL_SETTLE_TIMEOUT_S = 30.0


class StackError(stack.StackError):
    pass


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
    """Every SCRAM user of the profile, the super user first."""
    return [
        ADMIN_USER,
        *(agency_user(agency.code) for agency in settings.agencies),
        *(service_user(service) for service in SERVICES),
    ]


def acl_bindings(settings: CommonSettings) -> list[AclBinding]:
    """The whole ACL set of a deployment (admin needs none: it is a super user)."""
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
        rules.extend(AclBinding(user, group, g, read) for g in SERVICE_GROUPS[name])

    service("registry", reads=[], writes=[households])
    service(
        "interventions",
        reads=[households, *intakes],
        writes=[interventions, settings.deadletter_topic],
    )
    service("reporting", reads=[households, interventions, settings.deadletter_topic], writes=[])
    return sorted(set(rules))


def managed_principal(principal: str) -> bool:
    """ACLs of these principals are ours: stale ones (e.g. a removed agency) are deleted."""
    return principal.startswith((f"User:{AGENCY_USER_PREFIX}", f"User:{SERVICE_USER_PREFIX}"))


# --------------------------------------------------------------------------- configuration


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"{name}={raw!r} is not a valid TCP port")
    return int(raw)


@dataclass(frozen=True)
class SecureConfig:
    base: stack.Config  # cache dir (for the shared jars), version, heap; ports replaced
    profile_dir: Path
    settings: CommonSettings

    @classmethod
    def from_env(cls) -> SecureConfig:
        base = stack.Config.from_env()
        port = _port("GAYARI_KAFKA_SECURE_PORT", DEFAULT_PORT)
        controller = _port("GAYARI_KAFKA_SECURE_CONTROLLER_PORT", DEFAULT_CONTROLLER_PORT)
        if port == controller:
            raise StackError(f"the secure broker and controller ports must differ: {port}")
        base = dataclasses.replace(base, kafka_port=port, kafka_controller_port=controller)
        raw_dir = os.environ.get("GAYARI_KAFKA_SECURE_DIR", "").strip()
        profile = Path(raw_dir) if raw_dir else base.cache_dir / "kafka-secure"
        try:
            settings = load_settings(CommonSettings)
        except Exception as exc:  # ConfigurationError names the variable
            raise StackError(str(exc)) from exc
        return cls(base, profile.expanduser().resolve(), settings)

    @property
    def secrets_dir(self) -> Path:
        return self.profile_dir / "secrets"

    def password_file(self, user: str) -> Path:
        return self.secrets_dir / f"{user}.password"

    def client_properties(self, user: str) -> Path:
        return self.secrets_dir / f"{user}.properties"


def _write_private(path: Path, text: str) -> None:
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


def ensure_passwords(cfg: SecureConfig) -> dict[str, str]:
    """Generated once per user into <profile>/secrets (0600); never committed, never printed."""
    cfg.profile_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # metadata holds credentials
    cfg.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    cfg.secrets_dir.chmod(0o700)
    passwords: dict[str, str] = {}
    for user in users(cfg.settings):
        path = cfg.password_file(user)
        with contextlib.suppress(OSError):
            passwords[user] = path.read_text().strip()
        if not passwords.get(user):
            # URL-safe base64: no quote, comma, '=' or bracket to escape in JAAS / --add-scram.
            passwords[user] = secrets.token_urlsafe(24)
            _write_private(path, passwords[user] + "\n")
        _write_private(
            cfg.client_properties(user),
            "security.protocol=SASL_PLAINTEXT\n"
            f"sasl.mechanism={SCRAM_MECHANISM}\n"
            f"sasl.jaas.config={jaas(SCRAM_MODULE, user, passwords[user])}\n",
        )
    return passwords


def sasl_kwargs(user: str, password: str) -> dict[str, Any]:
    """aiokafka client arguments for the profile's listener."""
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": SCRAM_MECHANISM,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


# --------------------------------------------------------------------------- the broker


class SecureKafka(stack.Kafka):
    """stack.Kafka with another home (data, config, logs, pid) and SASL + ACL configuration.

    The jars are the default stack's (<cache>/kafka/<version>/libs), resolved once for both.
    """

    def __init__(self, cfg: SecureConfig) -> None:
        super().__init__(cfg.base)
        self.secure = cfg
        self.home = cfg.profile_dir
        self.config_dir = self.home / "config"
        self.properties = self.config_dir / "server.properties"
        self.cluster_id_file = self.config_dir / "cluster-id"
        self.data = self.home / "data"
        self.logs = self.home / "logs"
        self.stdout_log = self.logs / "stdout.log"
        self.server_log = self.logs / "server.log"
        self.run_dir = self.home / "run"
        self.pid_file = self.run_dir / "kafka.pid"
        self.passwords: dict[str, str] = {}

    @property
    def admin_password(self) -> str:
        if not self.passwords:
            self.passwords = ensure_passwords(self.secure)
        return self.passwords[ADMIN_USER]

    def ensure_libs(self) -> None:
        with contextlib.suppress(OSError):
            if self.libs_marker.read_text().strip() == self._libs_fingerprint():
                return
        with stack.stack_lock(self.cfg):  # the default stack's lock: the jars are shared
            super().ensure_libs()

    def write_properties(self) -> None:
        c, admin = self.cfg, self.admin_password
        scram_jaas = jaas(SCRAM_MODULE, ADMIN_USER, admin)
        plain_jaas = jaas(PLAIN_MODULE, ADMIN_USER, admin, f' user_{ADMIN_USER}="{admin}"')
        text = f"""\
# Generated by deploy/local/security/secure_stack.py on every start; edits are overwritten.
# Holds the admin password: mode 0600.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{c.kafka_controller_port}
listeners=SASL_PLAINTEXT://127.0.0.1:{c.kafka_port},CONTROLLER://127.0.0.1:{c.kafka_controller_port}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{c.kafka_port}
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
log.dirs={self.data}

# Clients and the broker itself (inter-broker) log in with SCRAM-SHA-512 on the one client
# listener; the broker as the super user admin (credential added at format time).
sasl.enabled.mechanisms={SCRAM_MECHANISM}
inter.broker.listener.name=SASL_PLAINTEXT
sasl.mechanism.inter.broker.protocol={SCRAM_MECHANISM}
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={scram_jaas}
# KRaft controllers cannot use SCRAM (the credentials live in the metadata they serve):
# the controller listener uses SASL/PLAIN with one static user, admin.
controller.listener.names=CONTROLLER
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config={plain_jaas}

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:{ADMIN_USER}
allow.everyone.if.no.acl.found=false

offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1

group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.partitions=6
log.retention.ms=-1
log.retention.bytes=-1
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=33554432
"""
        _write_private(self.properties, text)

    def format_storage(self, java: str) -> None:
        """Format once, with a SCRAM credential for every user already configured."""
        if (self.data / "meta.properties").exists():
            return
        stack.say("kafka-secure: formatting KRaft storage with the SCRAM users ...")
        self.admin_password  # noqa: B018 (generates the passwords)
        scram = [
            arg
            for user in users(self.secure.settings)
            for arg in (
                "--add-scram",
                f"{SCRAM_MECHANISM}=[name={user},iterations={SCRAM_ITERATIONS},"
                f"password={self.passwords[user]}]",
            )
        ]
        cmd = self.java_cmd(
            java, "256m", "kafka.tools.StorageTool", "format",
            "-t", self.cluster_id(), "-c", str(self.properties), "--ignore-formatted", *scram,
        )  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(
                f"kafka-secure: storage format failed:\n{result.stdout}{result.stderr}"
            )

    def probe(self, timeout_s: float = stack.PROBE_TIMEOUT_S) -> bool:
        """True if the broker answers a metadata request of the admin, logged in with SCRAM."""
        return asyncio.run(can_login(self.bootstrap, ADMIN_USER, self.admin_password, timeout_s))

    def start(self) -> None:
        super().start()
        began = time.monotonic()
        asyncio.run(provision(self))
        stack.say(
            f"kafka-secure: users, topics and ACLs in place ({time.monotonic() - began:.1f} s)"
        )

    # ---- SCRAM users added after the format (e.g. a new agency in GAYARI_AGENCIES)

    def add_scram_user(self, user: str) -> None:
        """AlterUserScramCredentials through Kafka's own kafka.admin.ConfigCommand."""
        java = stack.require_tool("java", "to run Kafka's ConfigCommand")
        config_file = self.secure.secrets_dir / f".{user}.scram.properties"
        _write_private(
            config_file,
            f"{SCRAM_MECHANISM}=iterations={SCRAM_ITERATIONS},password={self.passwords[user]}\n",
        )
        try:
            cmd = self.java_cmd(
                java, "256m", "kafka.admin.ConfigCommand",
                "--bootstrap-server", self.bootstrap,
                "--command-config", str(self.secure.client_properties(ADMIN_USER)),
                "--alter", "--entity-type", "users", "--entity-name", user,
                "--add-config-file", str(config_file),
            )  # fmt: skip
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        finally:
            config_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(
                f"kafka-secure: setting the SCRAM credential of {user} failed:\n"
                f"{result.stdout}{result.stderr}"
            )
        stack.say(f"kafka-secure: SCRAM credential of {user} set (ConfigCommand)")


# --------------------------------------------------------------------------- provisioning


async def can_login(bootstrap: str, user: str, password: str, timeout_s: float = 5.0) -> bool:
    """True if ``user`` authenticates and gets a metadata answer listing a broker."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        **sasl_kwargs(user, password),
    )
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            return bool((await admin.describe_cluster()).get("brokers"))
    except Exception:
        return False
    finally:
        await admin.close()


async def describe_acls(admin: Any) -> set[AclBinding]:
    """Every ACL the broker's authorizer holds (DescribeAcls, answered by the broker)."""
    request = DescribeAclsRequest(
        ResourceType.ANY, None, PatternType.ANY, None, None, Operation.ANY, Permission.ANY
    )
    response = await admin._send_request(request)  # aiokafka has no public ACL API
    if response.error_code:
        raise StackError(f"kafka-secure: DescribeAcls failed: {response.error_message}")
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


async def create_acl(admin: Any, acl: AclBinding) -> None:
    request = CreateAclsRequest(
        acl.resource_type, acl.resource_name, acl.pattern_type, acl.principal, acl.host,
        acl.operation, acl.permission,
    )  # fmt: skip
    response = await admin._send_request(request)
    for error_code, error_message in response.creation_responses:
        if error_code:
            raise StackError(f"kafka-secure: CreateAcls {acl} failed: {error_message}")


async def delete_acl(admin: Any, acl: AclBinding) -> None:
    request = DeleteAclsRequest(
        acl.resource_type, acl.resource_name, acl.pattern_type, acl.principal, acl.host,
        acl.operation, acl.permission,
    )  # fmt: skip
    response = await admin._send_request(request)
    for error_code, error_message, _ in response.filter_responses:
        if error_code:
            raise StackError(f"kafka-secure: DeleteAcls {acl} failed: {error_message}")


async def provision(kafka: SecureKafka) -> None:
    """Idempotent: missing SCRAM users, the deployment's topics, then the ACL set, reconciled."""
    settings = kafka.secure.settings
    passwords = kafka.passwords or ensure_passwords(kafka.secure)
    # 1. Users that cannot log in (configured after the format, or a password file replaced).
    names = users(settings)[1:]
    logins = await asyncio.gather(*(can_login(kafka.bootstrap, u, passwords[u]) for u in names))
    for user, ok in zip(names, logins, strict=True):
        if not ok:
            await asyncio.to_thread(kafka.add_scram_user, user)
            if not await can_login(kafka.bootstrap, user, passwords[user], 15.0):
                raise StackError(f"kafka-secure: {user} still cannot log in")

    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap,
        request_timeout_ms=15000,
        **sasl_kwargs(ADMIN_USER, passwords[ADMIN_USER]),
    )
    await admin.start()
    try:
        # 2. Topics: created by the admin here; the services only DESCRIBE them at start.
        existing = set(await admin.list_topics())
        missing = [spec for spec in domain_topics(settings) if spec.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(spec.name, spec.partitions, spec.replication_factor,
                                 topic_configs=FULL_REPLAY_CONFIG)
                        for spec in missing
                    ]
                )  # fmt: skip
            stack.say(f"kafka-secure: created {', '.join(spec.name for spec in missing)}")
        # 3. ACLs: create the missing, delete stale ones of our principals, wait until applied.
        wanted = set(acl_bindings(settings))
        present = await describe_acls(admin)
        stale = {acl for acl in present - wanted if managed_principal(acl.principal)}
        await asyncio.gather(*(create_acl(admin, acl) for acl in wanted - present))
        await asyncio.gather(*(delete_acl(admin, acl) for acl in stale))
        deadline = time.monotonic() + ACL_SETTLE_TIMEOUT_S
        while True:
            present = await describe_acls(admin)
            ours = {acl for acl in present if managed_principal(acl.principal)}
            if wanted <= present and not ours - wanted:
                break
            if time.monotonic() > deadline:
                raise StackError("kafka-secure: the broker did not apply the ACLs in time")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


# --------------------------------------------------------------------------- CLI


@contextlib.contextmanager
def profile_lock(kafka: SecureKafka) -> Iterator[None]:
    kafka.run_dir.mkdir(parents=True, exist_ok=True)
    with (kafka.run_dir / "secure.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def acl_table(settings: CommonSettings) -> str:
    lines = ["principal | resource | name | operation", "---|---|---|---"]
    lines += [
        f"{acl.principal} | {acl.resource_type.name.lower()} | {acl.resource_name} | "
        f"{acl.operation.name}"
        for acl in acl_bindings(settings)
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="secure_stack.py",
        description="The local Kafka's security profile: SASL/SCRAM-SHA-512 users and ACLs.",
    )
    parser.add_argument("command", choices=["start", "stop", "status", "acls"])
    args = parser.parse_args(argv)
    try:
        cfg = SecureConfig.from_env()
        kafka = SecureKafka(cfg)
        if args.command == "acls":
            stack.say(acl_table(cfg.settings))
            return stack.EXIT_OK
        if args.command == "status":
            st = kafka.status()
            stack.say(
                f"kafka-secure {'running' if st.running else 'stopped':<8} "
                f"pid={st.pid if st.pid is not None else '-':<8} port={st.port:<6} "
                f"{'ready' if st.ready else 'not ready'}  (SASL_PLAINTEXT, {cfg.profile_dir})"
            )
            return stack.EXIT_OK if st.running and st.ready else stack.EXIT_NOT_READY
        with profile_lock(kafka):
            if args.command == "stop":
                kafka.stop()
                return stack.EXIT_OK
            began = time.monotonic()
            kafka.start()
            stack.say(f"kafka-secure: start took {time.monotonic() - began:.1f} s")
            stack.say(
                f"kafka-secure: bootstrap {kafka.bootstrap} (SASL_PLAINTEXT, {SCRAM_MECHANISM})"
            )
            stack.say(f"kafka-secure: passwords and client properties in {cfg.secrets_dir}")
            return stack.EXIT_OK
    except stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return stack.EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
