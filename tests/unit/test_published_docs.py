"""The AsyncAPI documents kept in docs/asyncapi/ are the ones the services generate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gayari_interventions.entrypoints import asyncapi as interventions_doc
from gayari_registry.entrypoints import asyncapi as registry_doc
from gayari_reporting.entrypoints import asyncapi as reporting_doc
from gayari_reporting.settings import ReportingSettings
from gayari_shared.settings import CommonSettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"


def generated() -> dict[str, dict[str, Any]]:
    # Defaults only: the documents in the repo describe the standard deployment.
    settings = CommonSettings(
        _env_file=None,
        kafka_bootstrap_servers="127.0.0.1:19092",
        kafka_security_protocol="SASL_SSL",
        topic_prefix="gayari",
    )
    return {
        "registry": registry_doc.document(settings),
        "interventions": interventions_doc.document(settings),
        "reporting": reporting_doc.document(settings, ReportingSettings().consumer_group),
    }


@pytest.mark.parametrize("service", ["registry", "interventions", "reporting"])
def test_kept_document_is_up_to_date(service: str) -> None:
    kept = json.loads((DOCS / f"{service}.json").read_text())
    assert kept == json.loads(json.dumps(generated()[service])), "run `make docs`"


def test_every_published_type_is_documented() -> None:
    documents = generated()
    titles = {
        schema.get("title")
        for doc in documents.values()
        for schema in doc["components"]["schemas"].values()
    }
    for name in ("HouseholdRegisteredV1", "HouseholdEnrolledV1", "HouseholdExitedV1"):
        assert name in titles
