"""The stack's configuration, from the environment (deploy/local/README.md lists the variables)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deploy.local import certificates
from deploy.local.principals import Credentials
from deploy.local.processes import StackError
from gayari_shared.settings import CommonSettings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_HEAP_MB = 1024

# Secure by default; plaintext is the same stack without TLS, logins or ACLs.
Security = Literal["secure", "plaintext"]


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
    def from_env(cls, security: str | None = None) -> Config:
        """``security`` (the command line's --security) wins over GAYARI_STACK_SECURITY."""
        cache = Path(os.environ.get("GAYARI_CACHE_DIR") or REPO_ROOT / ".cache")
        version = os.environ.get("GAYARI_KAFKA_VERSION", "").strip() or "4.1.1"
        if not re.fullmatch(r"[4-9]\.\d+\.\d+", version):
            raise StackError(f"GAYARI_KAFKA_VERSION={version!r}: need a Kafka 4.x+ version (x.y.z)")
        security = security or os.environ.get("GAYARI_STACK_SECURITY", "").strip() or "secure"
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
