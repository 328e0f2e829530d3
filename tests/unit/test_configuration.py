"""Invalid configuration stops a service at start, naming each variable that is wrong."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from gayari_interventions.settings import InterventionsSettings
from gayari_registry.settings import RegistrySettings
from gayari_reporting.settings import ReportingSettings
from gayari_shared.postgres import Database
from gayari_shared.settings import CommonSettings, ConfigurationError, load_settings

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


@pytest.mark.parametrize("service", ["registry", "interventions"])
def test_a_service_that_hashes_kks_does_not_start_without_its_hash_secret(service: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAYARI_HASH_SECRET")}
    started = subprocess.run(
        [str(BIN / f"gayari-{service}")],
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


def test_a_service_without_its_kafka_credentials_does_not_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAYARI_KAFKA_SASL_")}
    env.pop("GAYARI_KAFKA_SECURITY_PROTOCOL", None)  # the default: SASL_SSL
    started = subprocess.run(
        [str(BIN / "gayari-reporting")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    assert "GAYARI_KAFKA_SASL_USERNAME" in started.stderr
    assert "GAYARI_KAFKA_SASL_PASSWORD" in started.stderr
    assert "Traceback" not in started.stderr


def test_kafka_is_sasl_ssl_with_a_verified_certificate_unless_said_otherwise(
    tmp_path: Path,
) -> None:
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    settings = CommonSettings(
        _env_file=None,
        kafka_bootstrap_servers="broker:9093",
        kafka_sasl_username="service-reporting",
        kafka_sasl_password_file=password,
    )
    options = settings.kafka_connection().client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "service-reporting",
        "s3cret",
    )
    context: ssl.SSLContext = options["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert "s3cret" not in repr(settings.kafka_connection())

    plain = CommonSettings(_env_file=None, kafka_security_protocol="PLAINTEXT")
    assert plain.kafka_connection().client_options() == {
        "bootstrap_servers": plain.kafka_bootstrap_servers
    }
    with pytest.raises(ConfigurationError, match="set only one"):
        CommonSettings(
            _env_file=None,
            kafka_sasl_username="x",
            kafka_sasl_password="a",
            kafka_sasl_password_file=password,
        ).kafka_connection()


def test_the_database_is_reached_over_verified_tls_with_the_password_kept_apart(
    tmp_path: Path,
) -> None:
    password = tmp_path / "password"
    password.write_text("pw\n")
    settings = ReportingSettings(
        _env_file=None,
        database_url="postgresql://gayari_reporting@db:5432/gayari_reporting",
        database_password_file=password,
        database_sslrootcert=tmp_path / "ca.pem",
    )
    options = settings.database().connect_options()
    assert options["password"] == "pw"
    query = parse_qs(urlsplit(options["dsn"]).query)
    assert query["sslmode"] == ["verify-full"]
    assert query["sslrootcert"] == [str(tmp_path / "ca.pem")]
    assert "pw" not in options["dsn"]
    # A bare URL is verify-full too, unless it says otherwise; a fallback to plaintext never.
    assert "sslmode=verify-full" in Database("postgresql://a@b/c").connect_options()["dsn"]
    assert (
        "sslmode=disable" in Database("postgresql://a@b/c?sslmode=disable").connect_options()["dsn"]
    )
    with pytest.raises(ValueError, match="plaintext"):
        Database("postgresql://a@b/c?sslmode=prefer").connect_options()
    with pytest.raises(ConfigurationError, match="GAYARI_REPORTING_DATABASE_SSLMODE"):
        os.environ["GAYARI_REPORTING_DATABASE_SSLMODE"] = "prefer"
        try:
            load_settings(ReportingSettings)
        finally:
            del os.environ["GAYARI_REPORTING_DATABASE_SSLMODE"]
