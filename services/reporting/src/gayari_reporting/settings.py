"""Settings of the reporting service (GAYARI_REPORTING_*); common ones are GAYARI_*."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gayari_shared.settings import database_url


class ReportingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAYARI_REPORTING_", extra="ignore", frozen=True)

    database_url: str = database_url("reporting")
    http_port: int = 8103
    consumer_group: str = "gayari-reporting"
    max_batch_records: int = Field(default=5000, ge=1)
    # A batch of at most this many events logs a line per event (the trail of live traffic,
    # with correlation ids); a bigger one, a catch-up, logs one line per batch.
    log_each_event_up_to: int = Field(default=100, ge=0)
    # An enrolled household with no intervention for this many days is listed as unserved.
    unserved_days: int = Field(default=90, ge=1, le=3650)
