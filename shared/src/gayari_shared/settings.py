"""Settings common to every service, read from GAYARI_* environment variables.

The defaults match the local stack in deploy/local, so a developer needs no configuration;
in any other environment every value comes from the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gayari_shared.agencies import DEFAULT_AGENCIES, Agency


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAYARI_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # Separates deployments (or test runs) sharing one cluster: topics are "<prefix>.<stream>".
    topic_prefix: str = Field(default="gayari", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    kafka_topic_partitions: int = Field(default=6, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    http_host: str = "127.0.0.1"
    agencies: tuple[Agency, ...] = DEFAULT_AGENCIES
    # Keyed hashes of identifiers (e.g. the family card number) on events; never a plain value.
    hash_secret: str = "local-development-only-secret"
    # The API keys file (digests only); see `python -m gayari_shared.auth`.
    api_keys_file: Path | None = None

    def topic(self, stream: str) -> str:
        return f"{self.topic_prefix}.{stream}"

    def intake_topic(self, agency: str) -> str:
        """Where an agency's own system publishes its records (see docs/intake.md)."""
        return self.topic(f"intake.{agency}")

    @property
    def deadletter_topic(self) -> str:
        """Records a consumer could not accept, with the reason in their headers."""
        return self.topic("deadletter")


def database_url(service: str, port: int = 15432) -> str:
    """The local stack's URL for a service's own database."""
    role = f"gayari_{service}"
    return f"postgresql://{role}:{role}@127.0.0.1:{port}/{role}"
