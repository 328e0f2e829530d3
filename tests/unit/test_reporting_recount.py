"""The plain recount of the read models (gayari_reporting.domain.recount): figures worked out
by hand for a small programme, and the same figures for any order and duplication of it."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gayari_reporting.domain.recount import RecountEvent, from_envelopes, recount
from gayari_shared.events.contracts import (
    BudgetAllocatedV1,
    EventBase,
    GrantIssuedV1,
    GrantIssuedV2,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
    InterventionVoidedV1,
    MentoringVisitedV1,
    TrainingCompletedV2,
)
from gayari_shared.events.factory import envelope_for

T0 = datetime(2026, 3, 1, 3, tzinfo=UTC)
H1, H2, H3 = (uuid.UUID(int=n) for n in (1, 2, 3))


def ev(data: EventBase) -> RecountEvent:
    return (uuid.uuid4(), data)


def grant(hid: uuid.UUID, agency: str, kind: Any, idr: int, fy: int = 2026) -> GrantIssuedV2:
    return GrantIssuedV2(
        household_id=hid,
        grant_id=uuid.uuid4(),
        agency=agency,
        kind=kind,
        amount_idr=idr,
        purpose="Modal",
        fiscal_year=fy,
        issued_at=T0,
    )


def programme() -> list[RecountEvent]:
    voided = grant(H2, "dkukmpp", "capital", 7_000_000)
    events: list[RecountEvent] = [
        *(
            ev(
                HouseholdRegisteredV1(
                    household_id=h,
                    village_code="62.09.01.2001",
                    welfare_decile=2,
                    member_count=3,
                    kk_hash="ab" * 32,
                    registered_at=T0,
                )
            )
            for h in (H1, H2)
        ),
        ev(
            HouseholdEnrolledV1(
                household_id=H1, cohort_year=2026, enrolling_agency="dinsos", enrolled_at=T0
            )
        ),
        ev(
            HouseholdEnrolledV1(
                household_id=H2, cohort_year=2026, enrolling_agency="dinsos", enrolled_at=T0
            )
        ),
        # Two exits of H1: the later one (graduated) is the household's.
        ev(HouseholdExitedV1(household_id=H1, reason="moved", exited_at=T0)),
        ev(HouseholdExitedV1(household_id=H1, reason="graduated", exited_at=T0 + timedelta(1))),
        ev(grant(H1, "dinsos", "capital", 2_000_000)),
        ev(grant(H1, "distakan", "capital", 3_000_000)),
        ev(grant(H1, "dispar", "equipment", 1_000_000)),
        ev(grant(H2, "dinsos", "capital", 1_500_000, fy=2025)),
        ev(grant(H2, "distakan", "capital", 1_500_000)),
        ev(voided),
        ev(
            InterventionVoidedV1(
                intervention_id=voided.grant_id,
                intervention_type="grant",
                household_id=H2,
                agency="dkukmpp",
                reason="duplicate",
                voided_at=T0,
            )
        ),
        ev(
            GrantIssuedV1(
                household_id=H3,
                grant_id=uuid.uuid4(),
                agency="dispar",
                kind="capital",
                amount_idr=500_000,
                issued_at=T0,
            )
        ),
        ev(
            TrainingCompletedV2(
                household_id=H2,
                completion_id=uuid.uuid4(),
                session_id=None,
                member_id=None,
                agency="dispar",
                topic="Homestay",
                hours=8,
                completed_on=date(2026, 3, 2),
                recorded_at=T0,
            )
        ),
        ev(
            MentoringVisitedV1(
                household_id=H1,
                visit_id=uuid.uuid4(),
                agency="dkukmpp",
                visited_on=date(2026, 3, 3),
                business_status="running",
                recorded_at=T0,
            )
        ),
        ev(
            BudgetAllocatedV1(
                agency="dinsos",
                allocation_id=uuid.uuid4(),
                fiscal_year=2026,
                amount_idr=10_000_000,
                allocated_at=T0,
            )
        ),
    ]
    return events


def test_recount_by_hand() -> None:
    r = recount(programme())
    assert (r.households_registered, r.households_enrolled) == (2, 2)
    assert (r.households_exited, r.households_graduated) == (1, 1)
    assert r.households_reached == 3
    assert r.interventions == {
        "grant-capital": 5,
        "grant-equipment": 1,
        "training": 1,
        "mentoring": 1,
    }
    assert r.idr_disbursed == 2_000_000 + 3_000_000 + 1_000_000 + 1_500_000 * 2 + 500_000
    assert r.agencies["dinsos"].idr_disbursed == 3_500_000
    assert r.agencies["dinsos"].budget_allocated_idr == 10_000_000
    assert r.agencies["dkukmpp"].grants_capital == 0  # voided
    assert r.agencies["dkukmpp"].mentoring_visits == 1
    assert r.agencies["dispar"].households_reached == 3
    # H1: dinsos, distakan, dispar, dkukmpp; H2: dinsos, distakan, dispar; H3: dispar.
    assert r.reached_by == {4: 1, 3: 1, 1: 1}
    assert r.enrolled_reached_by_two_or_more == 2
    # Only H1's capital grants of 2026 are double funding; H2's are in different years.
    assert r.double_funding == {(H1, 2026, "capital", ("dinsos", "distakan"))}


def test_recount_ignores_order_and_duplicates() -> None:
    events = programme()
    expected = recount(events)
    rng = random.Random(7)
    for _ in range(30):
        shuffled = events + rng.sample(events, k=5)
        rng.shuffle(shuffled)
        assert recount(shuffled) == expected


def test_two_events_for_one_record_the_least_event_id_counts() -> None:
    first = grant(H1, "dinsos", "capital", 1_000)
    other = first.model_copy(update={"amount_idr": 9_000})
    low, high = uuid.UUID(int=1), uuid.UUID(int=2)
    for order in ([(low, first), (high, other)], [(high, other), (low, first)]):
        assert recount(order).idr_disbursed == 1_000


def test_from_envelopes_reads_what_the_projector_reads() -> None:
    data = grant(H1, "dinsos", "capital", 1_000)
    envelope = envelope_for(data, source="/t", correlation_id="c")
    assert from_envelopes([envelope, envelope]) == [(envelope.id, data)] * 2
    assert recount(from_envelopes([envelope, envelope])).idr_disbursed == 1_000
