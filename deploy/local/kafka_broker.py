"""The stack's Apache Kafka: one KRaft node (broker and controller) run from Maven Central's
jars, its SCRAM users added at format time, then the deployment's topics and ACLs reconciled.

Secured, both listeners are SASL_SSL; plaintext, PLAINTEXT without users or ACLs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import ClassVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from deploy.local import principals
from deploy.local.config import Config
from deploy.local.principals import ADMIN_USER
from deploy.local.processes import (
    LOG_TAIL_LINES,
    PROBE_TIMEOUT_S,
    StackError,
    Status,
    all_pids,
    ensure_ports_free,
    pid_alive,
    read_cmdline,
    read_pid_file,
    say,
    stop_process,
    tail,
    wait_until,
    write_pid_file,
)
from gayari_shared.kafka.connection import KafkaConnection
from gayari_shared.kafka.topics import FULL_REPLAY_CONFIG, domain_topics
from gayari_shared.settings import CommonSettings

DEPLOY_DIR = Path(__file__).resolve().parent
KAFKA_POM = DEPLOY_DIR / "kafka" / "pom.xml"
KAFKA_LOG4J = DEPLOY_DIR / "kafka" / "log4j2.properties"

INSTALL_HINT = "apt-get install openjdk-17-jre-headless maven"
MIN_JAVA = 17

KAFKA_READY_TIMEOUT_S = 90.0
KAFKA_STOP_TIMEOUT_S = 60.0
ACL_SETTLE_TIMEOUT_S = 30.0

# aiokafka logs every refused connection while the broker boots; the probes report themselves.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL + 1)


def require_tool(tool: str, purpose: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise StackError(
            f"`{tool}` was not found on PATH; it is needed {purpose}. "
            f"Install it, e.g.: {INSTALL_HINT}"
        )
    return path


def java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        raise StackError(f"cannot tell the Java version from `java -version`:\n{out.stderr}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def new_cluster_id() -> str:
    """A Kafka Uuid string: 22 base64url characters (16 random bytes), not starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class Kafka:
    name: ClassVar[str] = "kafka"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.home = cfg.cache_dir / "kafka"
        self.libs = self.home / cfg.kafka_version / "libs"
        self.libs_marker = self.libs / ".resolved"
        self.config_dir = self.home / "config"
        self.properties = self.config_dir / "server.properties"
        self.cluster_id_file = self.config_dir / "cluster-id"
        self.data = self.home / "data"
        self.logs = self.home / "logs"
        self.stdout_log = self.logs / "stdout.log"
        self.server_log = self.logs / "server.log"
        self.pid_file = cfg.run_dir / "kafka.pid"
        self.bootstrap = f"127.0.0.1:{cfg.kafka_port}"

    # ---- installation

    def _libs_fingerprint(self, tools: bool = False) -> str:
        digest = hashlib.sha256(KAFKA_POM.read_bytes())
        digest.update(self.cfg.kafka_version.encode() + (b"tools" if tools else b""))
        return digest.hexdigest()

    @property
    def tools_libs(self) -> Path:
        """The broker's class path plus Kafka's command-line tools (`-Ptools`): tests only."""
        return self.libs.with_name("tools-libs")

    def ensure_tools_libs(self) -> Path:
        self.ensure_libs(tools=True)
        return self.tools_libs

    def ensure_libs(self, tools: bool = False) -> None:
        libs = self.tools_libs if tools else self.libs
        fingerprint = self._libs_fingerprint(tools)
        with contextlib.suppress(OSError):
            if (libs / ".resolved").read_text().strip() == fingerprint:
                return
        mvn = require_tool("mvn", "to download the Kafka jars from Maven Central")
        say(f"kafka: resolving org.apache.kafka:kafka_2.13:{self.cfg.kafka_version} with Maven ...")
        partial = libs.with_name(f"{libs.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [
            mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(KAFKA_POM),
            f"-Dkafka.version={self.cfg.kafka_version}",
            *(["-Ptools"] if tools else []),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        jars = list(partial.glob("*.jar")) if partial.is_dir() else []
        if result.returncode != 0 or not jars:
            shutil.rmtree(partial, ignore_errors=True)
            plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
            output = "\n".join(plain.splitlines()[-40:])
            raise StackError(
                f"kafka: `mvn dependency:copy-dependencies` failed (exit {result.returncode}) "
                f"for Kafka {self.cfg.kafka_version}:\n{output}"
            )
        (partial / ".resolved").write_text(fingerprint + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        partial.replace(libs)
        say(f"kafka: {len(jars)} jars in {libs}")

    def cluster_id(self) -> str:
        with contextlib.suppress(OSError):
            stored = self.cluster_id_file.read_text().strip()
            if stored:
                return stored
        # Data formatted earlier but the id file lost: keep the id the data was formatted with.
        meta = self.data / "meta.properties"
        with contextlib.suppress(OSError):
            for line in meta.read_text().splitlines():
                if line.startswith("cluster.id="):
                    stored = line.split("=", 1)[1].strip()
                    self.cluster_id_file.write_text(stored + "\n")
                    return stored
        cid = new_cluster_id()
        self.cluster_id_file.write_text(cid + "\n")
        return cid

    @property
    def admin(self) -> KafkaConnection:
        """The super user: the stack's own probes and provisioning (and the tests' fixtures)."""
        if not self.cfg.secured:
            return KafkaConnection(self.bootstrap, "PLAINTEXT")
        password = self.cfg.credentials.kafka_password(ADMIN_USER)
        return KafkaConnection(
            self.bootstrap, "SASL_SSL", "SCRAM-SHA-512", ADMIN_USER, password, self.cfg.tls.ca
        )

    def _listeners(self) -> str:
        c = self.cfg
        if not c.secured:
            return f"""\
# GAYARI_STACK_SECURITY=plaintext: no TLS, no login, no ACLs.
listeners=PLAINTEXT://127.0.0.1:{c.kafka_port},CONTROLLER://127.0.0.1:{c.kafka_controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{c.kafka_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
"""
        admin = self.admin.password or ""
        tls = c.tls
        scram_jaas = principals.jaas(principals.SCRAM_MODULE, ADMIN_USER, admin)
        plain_jaas = principals.jaas(
            principals.PLAIN_MODULE, ADMIN_USER, admin, f' user_{ADMIN_USER}="{admin}"'
        )
        return f"""\
# Secure (the default): both listeners are SASL_SSL, nothing listens in plaintext.
listeners=SASL_SSL://127.0.0.1:{c.kafka_port},CONTROLLER://127.0.0.1:{c.kafka_controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{c.kafka_port}
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL
ssl.keystore.type=PEM
ssl.keystore.location={tls.kafka_keystore}
ssl.truststore.type=PEM
ssl.truststore.location={tls.ca}
ssl.endpoint.identification.algorithm=https
# Clients and the broker itself log in with SCRAM-SHA-512; the broker as the super user admin
# (its credential added at format time).
sasl.enabled.mechanisms={principals.SCRAM_MECHANISM}
inter.broker.listener.name=SASL_SSL
sasl.mechanism.inter.broker.protocol={principals.SCRAM_MECHANISM}
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram_jaas}
# A KRaft controller cannot check SCRAM (the credentials live in the metadata it serves):
# its listener takes SASL/PLAIN, over TLS too, with one static user, admin.
controller.listener.names=CONTROLLER
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config={plain_jaas}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:{ADMIN_USER}
allow.everyone.if.no.acl.found=false
"""

    def write_properties(self) -> None:
        c = self.cfg
        text = f"""\
# Generated by deploy/local/stack.py on every start; edits are overwritten.
# Holds the admin password when secured: mode 0600.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{c.kafka_controller_port}
{self._listeners()}log.dirs={self.data}

# Single node: every internal topic has replication factor 1.
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
# Keep everything forever so consumers can replay the full history.
log.retention.ms=-1
log.retention.bytes=-1
num.recovery.threads.per.data.dir=1
# The default 128 MiB dedupe buffer is a big share of a small heap.
log.cleaner.dedupe.buffer.size=33554432
"""
        principals.write_private(self.properties, text)

    def java_cmd(self, java: str, heap: str, main: str, *args: str) -> list[str]:
        return [
            java, f"-Xms{heap}", f"-Xmx{heap}",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent", "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.logs}",
            f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
            "-cp", f"{self.libs}/*",
            main, *args,
        ]  # fmt: skip

    # Set when this start formatted the storage: every user was just added with it.
    formatted_now = False

    @property
    def scram_marker(self) -> Path:
        return self.home / "scram-formatted"

    def format_storage(self, java: str) -> None:
        if (self.data / "meta.properties").exists():
            if self.scram_marker.exists() or not self.cfg.secured:
                return
            # Formatted by a stack from before the secure default: no SCRAM user, not even the
            # broker's own. Kept aside, not deleted.
            aside = self.data.with_name(f"data.plaintext-{time.strftime('%Y%m%d%H%M%S')}")
            say(f"kafka: {self.data} has no SCRAM users (an older stack): moved to {aside}")
            self.data.replace(aside)
            self.cluster_id_file.unlink(missing_ok=True)
            self.data.mkdir(parents=True)
        say("kafka: formatting KRaft storage with the SCRAM users ...")
        # Every user's credential is in the metadata from the start: no JVM run per user later.
        scram = [
            arg
            for user in principals.users(self.cfg.settings)
            for arg in (
                "--add-scram",
                f"{principals.SCRAM_MECHANISM}=[name={user},"
                f"iterations={principals.SCRAM_ITERATIONS},"
                f"password={self.cfg.credentials.kafka_password(user)}]",
            )
        ]
        cmd = self.java_cmd(
            java, "256m", "kafka.tools.StorageTool", "format",
            "-t", self.cluster_id(), "-c", str(self.properties), "--ignore-formatted", *scram,
        )  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"kafka: storage format failed:\n{result.stdout}{result.stderr}")
        self.scram_marker.write_text("ok\n")
        self.formatted_now = True

    # ---- process

    def _is_ours(self, pid: int) -> bool:
        cmd = read_cmdline(pid)
        return cmd is not None and "kafka.Kafka" in cmd and str(self.properties) in cmd

    def find_pid(self, *, repair: bool = True) -> int | None:
        """Pid of our broker. ``repair`` (only under the stack lock) fixes a stale pid file."""
        pid = read_pid_file(self.pid_file)
        if pid is not None and self._is_ours(pid):
            return pid
        # Pid file missing or stale (e.g. after a reboot): look for our broker by command line.
        found = next((p for p in all_pids() if self._is_ours(p)), None)
        if repair:
            if found is None:
                self.pid_file.unlink(missing_ok=True)
            else:
                write_pid_file(self.pid_file, found)
        return found

    def probe(self, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
        """True if the broker answers a metadata request of the admin (logged in, if secured)."""
        return asyncio.run(can_login(self.admin, timeout_s))

    def _dump_logs(self) -> None:
        say(f"--- last {LOG_TAIL_LINES} lines of {self.server_log}:\n{tail(self.server_log)}")
        say(f"--- last {LOG_TAIL_LINES} lines of {self.stdout_log}:\n{tail(self.stdout_log)}")

    def start(self) -> None:
        java = require_tool("java", f"to run Kafka (Java {MIN_JAVA}+)")
        if (major := java_major(java)) < MIN_JAVA:
            raise StackError(
                f"kafka: Java {major} found, Kafka 4.x needs {MIN_JAVA}+ ({INSTALL_HINT})"
            )
        pid = self.find_pid()
        if pid is not None:
            if self.probe() or self._await_ready(pid, None) == "ready":
                say(f"kafka: already running and ready (pid {pid}, {self.bootstrap})")
                self.provision()
                return
            raise StackError(f"kafka: pid {pid} is running but not answering; try `stop` first")
        ensure_ports_free(
            "kafka",
            [("broker", self.cfg.kafka_port), ("controller", self.cfg.kafka_controller_port)],
        )
        self.ensure_libs()
        self.data.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.write_properties()
        self.format_storage(java)
        cmd = self.java_cmd(java, self.cfg.kafka_heap, "kafka.Kafka", str(self.properties))
        say(f"kafka: starting Kafka {self.cfg.kafka_version} on {self.bootstrap} ...")
        with self.stdout_log.open("a") as out:
            out.write(f"\n=== stack.py start {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            out.flush()
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.home, start_new_session=True,
            )  # fmt: skip
        write_pid_file(self.pid_file, proc.pid)
        outcome = self._await_ready(proc.pid, proc)
        if outcome != "ready":
            self._dump_logs()
            if outcome == "timeout":
                self.stop()
                raise StackError(
                    f"kafka: not ready after {KAFKA_READY_TIMEOUT_S:.0f} s (stopped it again)"
                )
            self.pid_file.unlink(missing_ok=True)
            raise StackError(f"kafka: the broker exited during start-up (code {proc.poll()})")
        say(f"kafka: ready (pid {proc.pid}, bootstrap {self.bootstrap})")
        self.provision()

    def provision(self) -> None:
        """Users, topics and ACLs in place, every principal's client settings written."""
        began = time.monotonic()
        try:
            asyncio.run(provision_kafka(self))
        except principals.ProvisionError as exc:
            raise StackError(f"kafka: {exc}") from exc
        secured = self.cfg.secured
        for user in principals.users(self.cfg.settings):
            self.cfg.credentials.write_kafka_client(user, self.bootstrap, secured)
        what = "users, topics and ACLs" if secured else "topics (plaintext: no users, no ACLs)"
        say(f"kafka: {what} in place ({time.monotonic() - began:.1f} s)")

    def add_scram_user(self, user: str) -> None:
        """A user configured after the format (e.g. a new agency in GAYARI_AGENCIES):
        AlterUserScramCredentials through Kafka's own kafka.admin.ConfigCommand."""
        java = require_tool("java", "to run Kafka's ConfigCommand")
        creds = self.cfg.credentials
        creds.write_kafka_client(ADMIN_USER, self.bootstrap, secured=True)
        config_file = creds.kafka_dir(user) / ".scram.properties"
        principals.write_private(
            config_file,
            f"{principals.SCRAM_MECHANISM}=iterations={principals.SCRAM_ITERATIONS},"
            f"password={creds.kafka_password(user)}\n",
        )
        try:
            cmd = self.java_cmd(
                java, "256m", "kafka.admin.ConfigCommand",
                "--bootstrap-server", self.bootstrap,
                "--command-config", str(creds.kafka_dir(ADMIN_USER) / "client.properties"),
                "--alter", "--entity-type", "users", "--entity-name", user,
                "--add-config-file", str(config_file),
            )  # fmt: skip
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        finally:
            config_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise principals.ProvisionError(
                f"setting the SCRAM credential of {user} failed:\n{result.stdout}{result.stderr}"
            )
        say(f"kafka: SCRAM credential of {user} set (ConfigCommand)")

    def _await_ready(self, pid: int, proc: subprocess.Popen[bytes] | None) -> str:
        def alive() -> bool:
            return proc.poll() is None if proc is not None else pid_alive(pid)

        return wait_until(self.probe, alive, KAFKA_READY_TIMEOUT_S)

    def stop(self) -> None:
        pid = self.find_pid()
        if pid is None:
            say("kafka: not running")
            return
        say(f"kafka: stopping pid {pid} ...")
        stop_process(pid, "kafka", [(signal.SIGTERM, KAFKA_STOP_TIMEOUT_S), (signal.SIGKILL, 10.0)])
        self.pid_file.unlink(missing_ok=True)
        say("kafka: stopped")

    def status(self) -> Status:
        pid = self.find_pid(repair=False)
        ready = pid is not None and self.probe()
        return Status(pid is not None, pid, self.cfg.kafka_port, ready, self.cfg.kafka_version)


async def can_login(kafka: KafkaConnection, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True if the principal authenticates and gets a metadata answer listing a broker."""
    admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=int(timeout_s * 1000))
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            return bool((await admin.describe_cluster()).get("brokers"))
    except Exception:
        return False
    finally:
        await admin.close()


async def provision_kafka(kafka: Kafka) -> None:
    """Idempotent: missing SCRAM users, the deployment's topics, then the ACL set, reconciled."""
    cfg = kafka.cfg
    if cfg.secured and not kafka.formatted_now:
        # Users that cannot log in (configured after the format, or a password file replaced).
        names = principals.users(cfg.settings)[1:]
        logins = await asyncio.gather(*(can_login(_as(kafka, u)) for u in names))
        for user, ok in zip(names, logins, strict=True):
            if not ok:
                await asyncio.to_thread(kafka.add_scram_user, user)
                if not await can_login(_as(kafka, user), 15.0):
                    raise principals.ProvisionError(f"{user} still cannot log in")
    admin = AIOKafkaAdminClient(**kafka.admin.client_options(), request_timeout_ms=15000)
    await admin.start()
    try:
        # Topics: created by the admin here; the services only DESCRIBE them at start.
        existing = set(await admin.list_topics())
        missing = [spec for spec in domain_topics(cfg.settings) if spec.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(spec.name, spec.partitions, spec.replication_factor,
                                 topic_configs=FULL_REPLAY_CONFIG)
                        for spec in missing
                    ]
                )  # fmt: skip
            say(f"kafka: created {', '.join(spec.name for spec in missing)}")
        if cfg.secured:
            await reconcile_acls(admin, cfg.settings)
    finally:
        await admin.close()


def _as(kafka: Kafka, user: str) -> KafkaConnection:
    password = kafka.cfg.credentials.kafka_password(user)
    return KafkaConnection(
        kafka.bootstrap, "SASL_SSL", "SCRAM-SHA-512", user, password, kafka.cfg.tls.ca
    )


async def reconcile_acls(admin: AIOKafkaAdminClient, settings: CommonSettings) -> None:
    """Create the missing ACLs, delete stale ones of ours, wait until applied."""
    wanted = set(principals.acl_bindings(settings))
    present = await principals.describe_acls(admin)
    stale = {acl for acl in present - wanted if principals.managed(acl, settings)}
    await principals.create_acls(admin, sorted(wanted - present))
    await principals.delete_acls(admin, sorted(stale))
    deadline = time.monotonic() + ACL_SETTLE_TIMEOUT_S
    while True:
        present = await principals.describe_acls(admin)
        ours = {acl for acl in present if principals.managed(acl, settings)}
        if wanted <= present and not ours - wanted:
            return
        if time.monotonic() > deadline:
            raise principals.ProvisionError("the broker did not apply the ACLs in time")
        await asyncio.sleep(0.2)
