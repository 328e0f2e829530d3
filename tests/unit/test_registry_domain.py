from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from gayari_registry.domain.model import (
    HouseholdApplication,
    Reference,
    enrol,
    exit_programme,
    register,
    registered_event,
)
from gayari_registry.entrypoints.http import HouseholdView
from gayari_shared.areas import load_areas
from gayari_shared.hashing import keyed_hash
from gayari_shared.rules import RuleViolationError

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def application(**overrides: object) -> HouseholdApplication:
    body: dict[str, object] = {
        "kk": "6209010101010001",
        "head_name": "Siti Aminah",
        "village_code": "62.09.01.2001",
        "welfare_decile": 1,
        "members": [
            {
                "name": "Siti Aminah",
                "nik": "6209014501800001",
                "sex": "F",
                "birth_date": "1980-01-05",
                "relationship": "head",
            },
        ],
    }
    body.update(overrides)
    return HouseholdApplication.model_validate(body)


def test_areas_know_lamandau() -> None:
    areas = load_areas()
    villages = areas.villages_in("62.09")
    assert len(villages) == 88
    assert {v.district_code for v in villages} == {f"62.09.0{i}" for i in range(1, 9)}
    assert areas.village("62.09.01.2001") is not None
    assert len(areas) == 83_762


def test_register_accepts_a_valid_household() -> None:
    household = register(application(), Reference(load_areas()), household_id=uuid.uuid4(), now=NOW)
    assert household.members[0].birth_date == date(1980, 1, 5)


def test_unknown_village_is_a_rule_violation() -> None:
    with pytest.raises(RuleViolationError) as caught:
        register(
            application(village_code="62.09.01.9999"),
            Reference(load_areas()),
            household_id=uuid.uuid4(),
            now=NOW,
        )
    assert caught.value.field == "village_code"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kk", "123"),
        ("kk", "62090101010100AB"),
        ("welfare_decile", 0),
        ("welfare_decile", 11),
        ("village_code", "6209012001"),
        ("members", []),
    ],
)
def test_malformed_applications_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        application(**{field: value})
    assert caught.value.errors()[0]["loc"][0] == field


def test_registered_event_carries_no_personal_data() -> None:
    household = register(application(), Reference(load_areas()), household_id=uuid.uuid4(), now=NOW)
    event = registered_event(household, keyed_hash("secret", household.kk))
    text = json.dumps(event.model_dump(mode="json"))
    for personal in (household.kk, household.head_name, household.members[0].nik):
        assert personal not in text
    assert event.kk_hash == keyed_hash("secret", "6209010101010001")
    assert event.member_count == 1
    assert event.member_ids == [household.members[0].member_id]


def test_household_view_answers_what_validating_the_household_again_gives() -> None:
    """HouseholdView.of takes the household's validated fields as they are: the JSON is the
    one a full validation of its dump gives, for a household with address, flags, members and
    enrolments."""
    application_ = application(
        address={"rt": "3", "rw": "1", "street": "Jl. Tjilik Riwut"},
        village_code="62.01.01.2001",  # outside Lamandau: flagged
    )
    household = register(application_, Reference(load_areas()), household_id=uuid.uuid4(), now=NOW)
    household, _ = enrol(household, 2026, "dinsos", now=NOW)
    household, _ = exit_programme(household, "moved", now=NOW)
    assert household.flags and household.enrolments and household.address
    validated = HouseholdView.model_validate({**household.model_dump(), "status": household.status})
    view = HouseholdView.of(household)
    assert view.model_dump_json() == validated.model_dump_json()
    assert json.loads(view.model_dump_json())["status"] == "exited"
