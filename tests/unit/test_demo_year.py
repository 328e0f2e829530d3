"""The plan of the demo's year (deploy/local/demo_year.py): every day where the services take it;
and the intake agency's records (deploy/local/demo_intake.py), refused for what they are."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

import pytest

from deploy.local.demo_intake import Enrolled, grants, mistakes, refusals
from deploy.local.demo_year import (
    DOUBLE_FUNDED,
    INTAKE_GRANTS,
    first_of_month,
    months_of,
    plan_year,
)
from gayari_interventions.domain.intake import IntakeRejectedError, validate_intake
from gayari_shared.events.envelope import Envelope

TODAY = date(2026, 3, 15)
AGENCIES = ["dinsos", "dispar", "distakan", "dkukmpp"]


def test_the_year_is_the_last_twelve_months() -> None:
    assert first_of_month(TODAY, 11) == date(2025, 4, 1)
    assert first_of_month(date(2026, 12, 7), 11) == date(2026, 1, 1)
    assert months_of(TODAY) == (date(2025, 4, 1), (TODAY - date(2025, 4, 1)).days + 1)


def test_every_household_is_planned_within_the_year_in_the_order_the_services_require() -> None:
    plans = plan_year(random.Random(3), TODAY, 400, AGENCIES, "dkukmpp", intake_agency="distakan")
    start, _ = months_of(TODAY)
    for plan in plans:
        assert start <= plan.registered_on <= plan.enrolled_on <= TODAY
        days = [*(v.on for v in plan.visits), *(s.on for s in plan.surveys)]
        if plan.grant_on is not None:
            days.append(plan.grant_on)
        assert all(plan.enrolled_on <= day <= TODAY for day in days)
        if plan.exit is not None:
            assert plan.exit[1] >= plan.last_day
    never = [p for p in plans if p.lead is None]
    old = [p for p in never if p.enrolled_on < TODAY - timedelta(days=90)]
    assert old, "some households enrolled long ago are never reached (unserved)"
    assert sum(p.second_grant is not None for p in plans) == DOUBLE_FUNDED
    assert any(p.imported for p in plans)
    assert any(p.exit and p.exit[0] == "graduated" for p in plans)
    assert {p.enrolled_on.month for p in plans} == set(range(1, 13))
    # The intake agency's system sends a few grants, to households that stay enrolled.
    sent = [p for p in plans if p.intake]
    assert len(sent) == INTAKE_GRANTS
    assert all(p.lead == "distakan" and p.exit is None and p.second_grant is None for p in sent)
    assert not any(p.imported for p in sent)


def over_the_wire(envelope: Envelope) -> Envelope:
    wire = envelope.to_kafka("gayari.intake.distakan")
    return Envelope.from_kafka(wire.key, wire.value, wire.headers)


REACHED = [Enrolled(str(uuid.uuid4()), date(2026, 2, 3)), Enrolled(str(uuid.uuid4()), TODAY)]


def test_the_intake_agencys_grants_pass_the_intake_contract() -> None:
    body = {
        "household_id": REACHED[0].household_id,
        "budget_line": "5.1.05.05.03.0002",
        "kind": "equipment",
        "purpose": "Budidaya ikan nila dalam keramba",
        "items": [
            {
                "description": "Bibit ikan nila",
                "unit": "ekor",
                "unit_value_idr": 350,
                "quantity": 2000,
            },
            {
                "description": "Jaring keramba",
                "unit": "buah",
                "unit_value_idr": 750_000,
                "quantity": 2,
            },
        ],
        "issued_on": "2026-03-01",
    }
    [record] = grants("distakan", [body])
    assert record.refused_as is None
    assert record.amount_idr == 2000 * 350 + 2 * 750_000
    taken = validate_intake(over_the_wire(record.envelope), "distakan")
    assert (taken.agency, str(taken.household_id)) == ("distakan", REACHED[0].household_id)


def test_the_intake_agencys_mistakes_are_what_the_intake_refuses() -> None:
    made = mistakes("distakan", REACHED, "5.1.05.05.03.0002")
    assert refusals(made) == {"invalid-data": 2, "rule-violation": 1, "household-not-known-yet": 1}
    for record in made:
        envelope = over_the_wire(record.envelope)
        if record.refused_as == "invalid-data":
            with pytest.raises(IntakeRejectedError) as caught:
                validate_intake(envelope, "distakan")
            assert caught.value.code == "invalid-data"
        else:
            # Well-formed: refused by the service for the household's state.
            message = validate_intake(envelope, "distakan")
            known = {r.household_id for r in REACHED}
            assert (str(message.household_id) in known) == (
                record.refused_as != "household-not-known-yet"
            )
    visit = next(r for r in made if r.refused_as == "rule-violation")
    assert visit.envelope.data["visited_on"] < REACHED[0].registered_on.isoformat()
    # With no household reached, only the unknown one is left.
    assert refusals(mistakes("distakan", [], "x")) == {"household-not-known-yet": 1}
