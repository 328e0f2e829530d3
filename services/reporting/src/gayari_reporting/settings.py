"""Settings of the reporting service (GAYARI_REPORTING_*); common ones are GAYARI_*."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from gayari_shared.settings import DatabaseSettings, database_url


class ReportingSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAYARI_REPORTING_", extra="ignore", frozen=True)

    database_url: str = database_url("reporting")
    http_port: int = 8103
    consumer_group: str = "gayari-reporting"
    # Records per projector transaction while catching up (live traffic comes in smaller ones):
    # each batch pays a fixed set of round trips and recomputes each household it touches once,
    # so larger batches go faster, up to where the memory of the batches in flight costs more
    # (the sizes compared: docs/performance.md, "Measurements behind the defaults").
    max_batch_records: int = Field(default=10_000, ge=1)
    # Transactions a batch is split into and committed side by side, on disjoint partitions
    # (so disjoint households): one transaction is one PostgreSQL backend, one core. At most
    # the partition count; each lane holds a pool connection while it commits.
    projector_lanes: int = Field(default=2, ge=1, le=64)
    # A batch of at most this many events logs a line per event (the trail of live traffic,
    # with correlation ids); a bigger one, a catch-up, logs one line per batch.
    log_each_event_up_to: int = Field(default=100, ge=0)
    # An enrolled household with no intervention for this many days is listed as unserved.
    unserved_days: int = Field(default=90, ge=1, le=3650)
