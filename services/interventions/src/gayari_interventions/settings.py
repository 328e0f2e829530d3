"""Settings of the interventions service (GAYARI_INTERVENTIONS_*); common ones are GAYARI_*."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from gayari_shared.settings import DatabaseSettings, RelayMode, database_url


class InterventionsSettings(DatabaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GAYARI_INTERVENTIONS_", extra="ignore", frozen=True
    )

    database_url: str = database_url("interventions")
    # Connections of the pool: HTTP requests hold one per write (the relay and the consumers
    # a few more).
    database_pool_size: int = Field(default=20, ge=2, le=200)
    http_port: int = 8102
    # Where the outbox relay runs: in this process, or in a process of its own
    # (gayari-interventions-relay, its health and metrics on relay_http_port). Separate,
    # publishing takes nothing from the requests' event loop.
    outbox_relay: RelayMode = "in-process"
    relay_http_port: int = 8112
    # How long the first response to an Idempotency-Key is kept (then swept): a retry within
    # it is answered from it, one after it is a new request.
    idempotency_ttl_h: float = Field(default=24.0, ge=24.0)
    # How long a record naming a household's version (Gayari-Household-Version) waits for the
    # registry's events up to it to be applied here before it is answered 503 with
    # Retry-After. Long enough for the usual lag (tens of milliseconds), short enough that a
    # consumer that is down does not hold requests.
    household_wait_s: float = Field(default=2.0, ge=0, le=30)
