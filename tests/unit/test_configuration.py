"""Invalid configuration stops a service at start, naming each variable that is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gayari_interventions.settings import InterventionsSettings
from gayari_registry.settings import RegistrySettings
from gayari_shared.settings import ConfigurationError, load_settings

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("service", ["registry", "interventions", "reporting"])
def test_invalid_settings_fail_at_start_naming_the_variables(service: str) -> None:
    env = {
        **os.environ,
        "GAYARI_KAFKA_TOPIC_PARTITIONS": "0",
        "GAYARI_LOG_LEVEL": "LOUD",
        f"GAYARI_{service.upper()}_HTTP_PORT": "eighty",
    }
    started = subprocess.run(
        [str(BIN / f"gayari-{service}")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    for variable in (
        "GAYARI_KAFKA_TOPIC_PARTITIONS",
        "GAYARI_LOG_LEVEL",
        f"GAYARI_{service.upper()}_HTTP_PORT",
    ):
        assert variable in started.stderr
    assert "Traceback" not in started.stderr


def test_the_registry_does_not_start_without_its_hash_secret() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAYARI_HASH_SECRET")}
    started = subprocess.run(
        [str(BIN / "gayari-registry")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    assert "GAYARI_HASH_SECRET" in started.stderr
    assert "Traceback" not in started.stderr


@pytest.mark.parametrize("service", ["registry", "interventions"])
def test_the_database_pool_size_is_configured_and_checked(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_class: type[RegistrySettings | InterventionsSettings] = (
        RegistrySettings if service == "registry" else InterventionsSettings
    )
    variable = f"GAYARI_{service.upper()}_DATABASE_POOL_SIZE"
    monkeypatch.delenv(variable, raising=False)
    assert settings_class().database_pool_size == 20
    monkeypatch.setenv(variable, "32")
    assert settings_class().database_pool_size == 32
    monkeypatch.setenv(variable, "1")  # the relay's listener alone would take it
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(settings_class)
