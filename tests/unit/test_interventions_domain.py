from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from gayari_interventions.domain.model import (
    GrantRequest,
    TrainingCompletionRequest,
    complete_training,
    grant_issued,
    issue_grant,
)
from gayari_shared.rules import RuleViolationError

NOW = datetime(2026, 11, 28, tzinfo=UTC)
AGENCIES = frozenset({"dinsos", "dispar", "distakan", "dkukmpp"})


def grant(**overrides: object) -> GrantRequest:
    body: dict[str, object] = {
        "household_id": str(uuid.uuid4()),
        "kind": "capital",
        "amount_idr": 1_000_000,
    }
    body.update(overrides)
    return GrantRequest.model_validate(body)


def test_grant_for_a_known_household_becomes_an_event() -> None:
    request = grant()
    issued = issue_grant(
        request,
        agency="dinsos",
        agencies=AGENCIES,
        household_known=True,
        grant_id=uuid.uuid4(),
        now=NOW,
    )
    event = grant_issued(issued)
    assert (event.household_id, event.amount_idr, event.agency) == (
        request.household_id,
        1_000_000,
        "dinsos",
    )


def test_unknown_household_is_refused() -> None:
    with pytest.raises(RuleViolationError) as caught:
        issue_grant(
            grant(),
            agency="dinsos",
            agencies=AGENCIES,
            household_known=False,
            grant_id=uuid.uuid4(),
            now=NOW,
        )
    assert caught.value.field == "household_id"


def test_unknown_agency_is_refused() -> None:
    with pytest.raises(RuleViolationError) as caught:
        issue_grant(
            grant(),
            agency="dishub",
            agencies=AGENCIES,
            household_known=True,
            grant_id=uuid.uuid4(),
            now=NOW,
        )
    assert caught.value.field == "agency"


def test_agency_in_the_body_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        grant(agency="dinsos")
    assert caught.value.errors()[0]["loc"] == ("agency",)


@pytest.mark.parametrize("amount", [0, -1, 1_000_000_001])
def test_amount_out_of_range_names_the_field(amount: int) -> None:
    with pytest.raises(ValidationError) as caught:
        grant(amount_idr=amount)
    assert caught.value.errors()[0]["loc"] == ("amount_idr",)


def test_training_in_the_future_is_refused() -> None:
    request = TrainingCompletionRequest(
        household_id=uuid.uuid4(),
        topic="Pemandu wisata",
        hours=8,
        completed_on=date(2026, 12, 1),
    )
    with pytest.raises(RuleViolationError) as caught:
        complete_training(
            request,
            agency="dispar",
            agencies=AGENCIES,
            household_known=True,
            completion_id=uuid.uuid4(),
            now=NOW,
        )
    assert caught.value.field == "completed_on"
