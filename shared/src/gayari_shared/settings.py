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
from gayari_shared.kafka.connection import KafkaConnection, KafkaSecurityProtocol, ScramMechanism
from gayari_shared.postgres import Database, SslMode

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

# Where a writing service's outbox relay runs: in its API process, or in a process of its own
# (gayari-<service>-relay, relay_app.py).
RelayMode = Literal["in-process", "separate"]


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAYARI_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # Who this process is on Kafka (see kafka_connection): SASL_SSL + SCRAM unless configured
    # otherwise; PLAINTEXT only explicitly.
    kafka_security_protocol: KafkaSecurityProtocol = "SASL_SSL"
    kafka_sasl_mechanism: ScramMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: Path | None = None
    # The CA that signed the brokers' certificates (PEM); unset: the system's trust store.
    kafka_ssl_cafile: Path | None = None
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
        secret = secret_value("GAYARI_HASH_SECRET", self.hash_secret, self.hash_secret_file)
        if secret is None:
            raise ConfigurationError(
                ["GAYARI_HASH_SECRET or GAYARI_HASH_SECRET_FILE: set exactly one of them"]
            )
        if self.hash_secret_file is not None and len(secret) < 16:
            raise ConfigurationError(["GAYARI_HASH_SECRET_FILE: the secret is shorter than 16"])
        return secret

    def kafka_connection(self) -> KafkaConnection:
        """How every Kafka client of this process connects; a service asks at start, so a
        missing credential stops it there, naming the variable."""
        if self.kafka_security_protocol == "PLAINTEXT":
            return KafkaConnection(self.kafka_bootstrap_servers, "PLAINTEXT")
        password = secret_value(
            "GAYARI_KAFKA_SASL_PASSWORD", self.kafka_sasl_password, self.kafka_sasl_password_file
        )
        problems = []
        if not self.kafka_sasl_username:
            problems.append("GAYARI_KAFKA_SASL_USERNAME: required with SASL_SSL (its principal)")
        if password is None:
            problems.append(
                "GAYARI_KAFKA_SASL_PASSWORD or GAYARI_KAFKA_SASL_PASSWORD_FILE: "
                "set one of them (SASL_SSL)"
            )
        if self.kafka_ssl_cafile is not None and not self.kafka_ssl_cafile.is_file():
            problems.append(f"GAYARI_KAFKA_SSL_CAFILE: no file {self.kafka_ssl_cafile}")
        if problems:
            raise ConfigurationError(problems)
        return KafkaConnection(
            self.kafka_bootstrap_servers,
            "SASL_SSL",
            self.kafka_sasl_mechanism,
            self.kafka_sasl_username,
            password,
            self.kafka_ssl_cafile,
        )

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
    """The local stack's URL for a service's own database (the password comes apart)."""
    role = f"gayari_{service}"
    return f"postgresql://{role}@127.0.0.1:{port}/{role}"


class DatabaseSettings(BaseSettings):
    """A service's own PostgreSQL database: `GAYARI_<SERVICE>_DATABASE_*`."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: str
    # The role's password, unless the URL holds it: the environment or a file (a secret).
    database_password: SecretStr | None = None
    database_password_file: Path | None = None
    # verify-full: TLS, the server's certificate checked against the CA and the host name.
    # `prefer` and `allow` (libpq's silent fallback to plaintext) are not offered.
    database_sslmode: SslMode = "verify-full"
    # The CA (PEM) for verify-ca / verify-full; unset: the URL's `sslrootcert`, PGSSLROOTCERT or
    # ~/.postgresql/root.crt.
    database_sslrootcert: Path | None = None
    # Apply the service's schema migrations when it starts (development only). Otherwise its
    # migrate command (`gayari-<service>-migrate up`) runs first, and a process meeting a schema
    # that lacks migrations refuses to start.
    migrate_on_start: bool = False

    def database(self) -> Database:
        prefix = str(self.model_config.get("env_prefix", "")) + "DATABASE_PASSWORD"
        password = secret_value(prefix, self.database_password, self.database_password_file)
        return Database(self.database_url, password, self.database_sslmode,
                        self.database_sslrootcert)  # fmt: skip


def secret_value(variable: str, value: SecretStr | None, file: Path | None) -> str | None:
    """A secret given as `<variable>` or `<variable>_FILE` (not both), or None."""
    if value is not None and file is not None:
        raise ConfigurationError([f"{variable} and {variable}_FILE: set only one of them"])
    if value is not None:
        return value.get_secret_value()
    if file is None:
        return None
    try:
        secret = file.read_text().strip()
    except OSError as exc:
        raise ConfigurationError([f"{variable}_FILE: {exc}"]) from exc
    if not secret:
        raise ConfigurationError([f"{variable}_FILE: {file} is empty"])
    return secret


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
