"""Settings of the registry service (GAYARI_REGISTRY_*); common ones are GAYARI_*."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from gayari_shared.settings import DatabaseSettings, RelayMode, database_url


class RegistrySettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAYARI_REGISTRY_", extra="ignore", frozen=True)

    database_url: str = database_url("registry")
    # Connections of the pool: HTTP requests hold one per write (the relay one or two more).
    database_pool_size: int = Field(default=20, ge=2, le=200)
    http_port: int = 8101
    # Where the outbox relay runs: in this process, or in a process of its own
    # (gayari-registry-relay, its health and metrics on relay_http_port). Separate,
    # publishing takes nothing from the requests' event loop.
    outbox_relay: RelayMode = "in-process"
    relay_http_port: int = 8111
    # How long the first response to an Idempotency-Key is kept (then swept): a retry within
    # it is answered from it, one after it is a new request.
    idempotency_ttl_h: float = Field(default=24.0, ge=24.0)
    # The programme's regency (Lamandau): households elsewhere are registered but flagged.
    home_regency: str = Field(default="62.09", pattern=r"^\d{2}\.\d{2}$")
