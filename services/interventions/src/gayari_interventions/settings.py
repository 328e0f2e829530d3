"""Settings of the interventions service (GAYARI_INTERVENTIONS_*); common ones are GAYARI_*."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from gayari_shared.settings import database_url


class InterventionsSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GAYARI_INTERVENTIONS_", extra="ignore", frozen=True
    )

    database_url: str = database_url("interventions")
    http_port: int = 8102
