"""Settings common to every service, read from GAYARI_* environment variables.

The defaults match the local stack in deploy/local, so a developer needs no configuration;
in any other environment every value comes from the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from gayari_shared.agencies import DEFAULT_AGENCIES, Agency

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

# Where a writing service's outbox relay runs: in its API process, or in a process of its own
# (gayari-<service>-relay, relay_app.py).
RelayMode = Literal["in-process", "separate"]


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
    # Never from the repository: the environment, or a file (a mounted secret).
    hash_secret: SecretStr | None = None
    hash_secret_file: Path | None = None
    # The API keys file (digests only); see `python -m gayari_shared.auth`.
    api_keys_file: Path | None = None

    def keyed_hash_secret(self) -> str:
        """The key of the hashes of identifiers on events; only the services that hash ask,
        and they do not start without it."""
        if (self.hash_secret is None) == (self.hash_secret_file is None):
            raise ConfigurationError(
                ["GAYARI_HASH_SECRET or GAYARI_HASH_SECRET_FILE: set exactly one of them"]
            )
        if self.hash_secret is not None:
            return self.hash_secret.get_secret_value()
        assert self.hash_secret_file is not None
        try:
            secret = self.hash_secret_file.read_text().strip()
        except OSError as exc:
            raise ConfigurationError([f"GAYARI_HASH_SECRET_FILE: {exc}"]) from exc
        if len(secret) < 16:
            raise ConfigurationError(["GAYARI_HASH_SECRET_FILE: the secret is shorter than 16"])
        return secret

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


class ConfigurationError(Exception):
    """Invalid settings, told by the environment variables that hold them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration: " + "; ".join(problems))
        self.problems = problems


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """Read a settings class from the environment; a bad value names its variable."""
    try:
        return settings_class()
    except ValidationError as exc:
        prefix = str(settings_class.model_config.get("env_prefix", ""))
        problems = [
            f"{prefix}{str(error['loc'][0]).upper()}: {error['msg']}"
            + (f" (got {error['input']!r})" if isinstance(error.get("input"), str | int) else "")
            for error in exc.errors()
        ]
        raise ConfigurationError(problems) from None
