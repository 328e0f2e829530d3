"""The interventions' rules, without infrastructure."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from gayari_interventions.domain.budget import BudgetAllocationRequest, allocate_budget
from gayari_interventions.domain.grants import (
    GrantRequest,
    grant_issued,
    issue_grant,
)
from gayari_interventions.domain.households import KnownHousehold
from gayari_interventions.domain.monitoring import (
    MentoringVisitRequest,
    mentoring_visited,
    record_visit,
)
from gayari_interventions.domain.rules import ConflictError, ForbiddenError, NotFoundError
from gayari_interventions.domain.training import (
    AttendanceRequest,
    CompletionRequest,
    Participant,
    ParticipationRequest,
    TrainingSession,
    TrainingSessionRequest,
    add_participant,
    complete_training,
    record_attendance,
    record_session,
)
from gayari_interventions.domain.voids import VoidRequest, VoidTarget, void_record
from gayari_shared.rules import RuleViolationError

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
AGENCIES = frozenset({"dinsos", "dispar", "distakan", "dkukmpp"})
HOUSEHOLD = uuid.uuid4()
MEMBER = uuid.uuid4()
ENROLLED = KnownHousehold(
    household_id=HOUSEHOLD,
    registered_at=datetime(2026, 1, 5, tzinfo=UTC),
    enrolled_at=datetime(2026, 1, 6, tzinfo=UTC),
    member_ids=frozenset({MEMBER}),
)


def grant(**overrides: Any) -> GrantRequest:
    body: dict[str, Any] = {
        "household_id": str(HOUSEHOLD),
        "kind": "capital",
        "amount_idr": 1_000_000,
        "purpose": "Modal warung sembako",
    }
    body.update(overrides)
    return GrantRequest.model_validate(body)


def issue(request: GrantRequest, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        "agency": "dinsos",
        "agencies": AGENCIES,
        "household": ENROLLED,
        "grant_id": uuid.uuid4(),
        "now": NOW,
    }
    kwargs.update(overrides)
    return issue_grant(request, **kwargs)


NILA = {"description": "Bibit ikan nila", "quantity": 1000, "unit": "ekor", "unit_value_idr": 500}
JARING = {"description": "Jaring", "quantity": 2, "unit": "buah", "unit_value_idr": 325_000}


def test_capital_grant_becomes_a_v2_event_of_the_caller_agency() -> None:
    event = grant_issued(issue(grant(budget_line="5.1.05"), agency="dkukmpp"))
    assert event.TYPE == "gayari.grant.issued.v2"
    assert (event.household_id, event.amount_idr, event.agency) == (HOUSEHOLD, 1_000_000, "dkukmpp")
    assert (event.purpose, event.budget_line, event.items) == ("Modal warung sembako", "5.1.05", [])
    assert event.fiscal_year == 2026  # the current one in Jakarta, when not given


@pytest.mark.parametrize(
    ("items", "total"),
    [([NILA], 500_000), ([NILA, JARING], 1_150_000), ([JARING, JARING], 1_300_000)],
)
def test_equipment_grant_total_is_the_sum_of_its_items(
    items: list[dict[str, Any]], total: int
) -> None:
    issued = issue(grant(kind="equipment", amount_idr=None, items=items))
    assert issued.amount_idr == total
    event = grant_issued(issued)
    assert event.amount_idr == total
    assert [(i.quantity, i.unit_value_idr) for i in event.items] == [
        (i["quantity"], i["unit_value_idr"]) for i in items
    ]


def test_equipment_amount_that_is_not_the_sum_is_refused() -> None:
    assert issue(grant(kind="equipment", amount_idr=1_150_000, items=[NILA, JARING]))
    with pytest.raises(RuleViolationError) as caught:
        issue(grant(kind="equipment", amount_idr=1_000_000, items=[NILA, JARING]))
    assert caught.value.field == "amount_idr"
    assert "1150000" in caught.value.message


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "equipment", "amount_idr": None}, "items"),
        ({"kind": "capital", "amount_idr": None}, "amount_idr"),
        ({"kind": "capital", "items": [NILA]}, "items"),
        (
            {"kind": "equipment", "amount_idr": None, "items": [{**NILA, "quantity": 10**6}] * 3},
            "items",
        ),
        ({"fiscal_year": 2027}, "fiscal_year"),
    ],
)
def test_grant_shape_rules_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(RuleViolationError) as caught:
        issue(grant(**overrides))
    assert caught.value.field == field


def test_a_past_fiscal_year_is_allowed() -> None:
    assert issue(grant(fiscal_year=2025)).fiscal_year == 2025


def test_a_grant_typed_in_later_keeps_its_day_and_that_days_fiscal_year() -> None:
    given = issue(grant(issued_on="2026-03-02"))
    # The start of that day in Lamandau (WIB, UTC+7).
    assert given.issued_at == datetime(2026, 3, 1, 17, 0, tzinfo=UTC)
    assert grant_issued(given).issued_at == given.issued_at
    assert issue(grant(issued_on="2026-11-28")).issued_at == NOW
    last_year = ENROLLED.model_copy(update={"registered_at": datetime(2025, 6, 1, tzinfo=UTC)})
    old = issue(
        grant(issued_on="2025-12-31"),
        household=last_year.model_copy(update={"enrolled_at": datetime(2025, 6, 2, tzinfo=UTC)}),
    )
    assert old.fiscal_year == 2025


# 16:30 UTC: 23:30 in Lamandau (WIB), already the next day in Jayapura (WIT).
EVENING = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
IN_JAYAPURA = ENROLLED.model_copy(update={"village_code": "91.71.01.1001"})
IN_LAMANDAU = ENROLLED.model_copy(update={"village_code": "62.09.01.2001"})


def test_a_records_day_and_fiscal_year_are_its_provinces() -> None:
    visit = MentoringVisitRequest(
        household_id=HOUSEHOLD, visited_on=date(2027, 1, 1), business_status="running"
    )
    kwargs: dict[str, Any] = {"agency": "dinsos", "agencies": AGENCIES, "now": EVENING}
    recorded = record_visit(visit, household=IN_JAYAPURA, visit_id=uuid.uuid4(), **kwargs)
    assert recorded.visited_on == date(2027, 1, 1)
    with pytest.raises(RuleViolationError, match="future"):
        record_visit(visit, household=IN_LAMANDAU, visit_id=uuid.uuid4(), **kwargs)
    assert issue(grant(), household=IN_JAYAPURA, now=EVENING).fiscal_year == 2027
    assert issue(grant(), household=IN_LAMANDAU, now=EVENING).fiscal_year == 2026
    # A grant typed in later starts at midnight of its day in the household's zone.
    given = issue(grant(issued_on="2026-12-01"), household=IN_JAYAPURA, now=EVENING)
    assert given.issued_at == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert given.fiscal_year == 2026


@pytest.mark.parametrize("day", ["2026-11-29", "2026-01-05"])
def test_a_grant_dated_in_the_future_or_before_the_enrolment_is_refused(day: str) -> None:
    with pytest.raises(RuleViolationError) as caught:
        issue(grant(issued_on=day))
    assert caught.value.field == "issued_on"


@pytest.mark.parametrize(
    ("household", "words"),
    [
        # An unknown household is never refused: see test_interventions_causal.
        (KnownHousehold(household_id=HOUSEHOLD, registered_at=NOW), "not enrolled"),
        (
            ENROLLED.model_copy(
                update={"exited_at": datetime(2026, 6, 1, tzinfo=UTC), "exit_reason": "graduated"}
            ),
            "exited",
        ),
    ],
)
def test_only_enrolled_households_that_have_not_exited_get_interventions(
    household: KnownHousehold, words: str
) -> None:
    # Decided with the household's version the client named (registered: 1, exited: 3);
    # without one, a household not known as enrolled may be one still on its way (see
    # test_interventions_causal).
    version = 3 if household.exited else 1
    household = household.model_copy(update={"version": version})
    with pytest.raises(RuleViolationError) as caught:
        issue(grant(), household=household, household_version=version)
    assert caught.value.field == "household_id"
    assert words in caught.value.message
    assert str(HOUSEHOLD) in caught.value.message
    with pytest.raises(RuleViolationError):
        record_visit(
            MentoringVisitRequest(
                household_id=HOUSEHOLD, visited_on=date(2026, 11, 1), business_status="running"
            ),
            agency="dinsos",
            agencies=AGENCIES,
            household=household,
            visit_id=uuid.uuid4(),
            now=NOW,
            household_version=version,
        )


def test_unknown_agency_is_forbidden() -> None:
    with pytest.raises(ForbiddenError, match="dishub"):
        issue(grant(), agency="dishub")


def test_agency_in_the_body_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        grant(agency="dinsos")
    assert caught.value.errors()[0]["loc"] == ("agency",)


@pytest.mark.parametrize("amount", [0, -1, 1_000_000_001])
def test_amount_out_of_range_names_the_field(amount: int) -> None:
    with pytest.raises(ValidationError) as caught:
        grant(amount_idr=amount)
    assert caught.value.errors()[0]["loc"] == ("amount_idr",)


SESSION = TrainingSession(
    id=uuid.uuid4(),
    agency="dispar",
    topic="Pengelolaan homestay",
    starts_on=date(2026, 10, 27),
    ends_on=date(2026, 10, 29),
    hours=24,
    place="Balai Desa Bukit Raya",
    recorded_at=NOW,
)


def participation(member_id: uuid.UUID = MEMBER) -> ParticipationRequest:
    return ParticipationRequest(session_id=SESSION.id, household_id=HOUSEHOLD, member_id=member_id)


def join(request: ParticipationRequest, **overrides: Any) -> Participant:
    kwargs: dict[str, Any] = {
        "agency": "dispar",
        "agencies": AGENCIES,
        "session": SESSION,
        "household": ENROLLED,
        "already": None,
        "participant_id": uuid.uuid4(),
        "now": NOW,
    }
    kwargs.update(overrides)
    return add_participant(request, **kwargs)


def test_session_cannot_end_before_it_starts() -> None:
    request = TrainingSessionRequest(
        topic="Pemandu wisata",
        starts_on=date(2026, 11, 2),
        ends_on=date(2026, 11, 1),
        hours=8,
        place="Nanga Bulik",
    )
    with pytest.raises(RuleViolationError) as caught:
        record_session(
            request, agency="dispar", agencies=AGENCIES, session_id=uuid.uuid4(), now=NOW
        )
    assert caught.value.field == "ends_on"


def test_participant_must_be_a_member_of_the_household_when_its_members_are_known() -> None:
    assert join(participation()).member_id == MEMBER
    with pytest.raises(RuleViolationError) as caught:
        join(participation(uuid.uuid4()))
    assert caught.value.field == "member_id"
    # Households whose members the registry never sent cannot be checked.
    unknown_members = ENROLLED.model_copy(update={"member_ids": None})
    assert join(participation(uuid.uuid4()), household=unknown_members)


def test_only_the_session_agency_adds_participants_once() -> None:
    with pytest.raises(ForbiddenError, match="dispar"):
        join(participation(), agency="dinsos")
    with pytest.raises(ConflictError):
        join(participation(), already=join(participation()))
    with pytest.raises(RuleViolationError) as caught:
        join(participation(), session=None)
    assert caught.value.field == "session_id"


def test_completion_carries_the_session_and_member_and_needs_participation() -> None:
    participant = join(participation())
    request = CompletionRequest(
        session_id=SESSION.id,
        household_id=HOUSEHOLD,
        member_id=MEMBER,
        completed_on=date(2026, 10, 29),
    )
    kwargs: dict[str, Any] = {
        "agency": "dispar",
        "agencies": AGENCIES,
        "session": SESSION,
        "household": ENROLLED,
        "completed_already": False,
        "completion_id": uuid.uuid4(),
        "now": NOW,
    }
    completion = complete_training(request, participant=participant, **kwargs)
    assert (completion.topic, completion.hours, completion.participant_id) == (
        "Pengelolaan homestay",
        24,
        participant.id,
    )
    with pytest.raises(RuleViolationError) as caught:
        complete_training(request, participant=None, **kwargs)
    assert caught.value.field == "member_id"
    with pytest.raises(ConflictError):
        complete_training(request, participant=participant, **{**kwargs, "completed_already": True})
    early = request.model_copy(update={"completed_on": date(2026, 10, 1)})
    with pytest.raises(RuleViolationError, match="starts"):
        complete_training(early, participant=participant, **kwargs)


def test_dates_in_the_future_are_refused_in_jakarta_time() -> None:
    # 28 Nov 20:00 UTC is already 29 Nov in Lamandau: the 29th is today, the 30th is not.
    evening = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
    for day, ok in ((date(2026, 11, 29), True), (date(2026, 11, 30), False)):
        request = MentoringVisitRequest(
            household_id=HOUSEHOLD, visited_on=day, business_status="running"
        )
        kwargs: dict[str, Any] = {
            "agency": "dinsos",
            "agencies": AGENCIES,
            "household": ENROLLED,
            "visit_id": uuid.uuid4(),
            "now": evening,
        }
        if ok:
            assert record_visit(request, **kwargs).visited_on == day
        else:
            with pytest.raises(RuleViolationError, match="future"):
                record_visit(request, **kwargs)


def test_mentoring_notes_never_reach_the_event() -> None:
    visit = record_visit(
        MentoringVisitRequest(
            household_id=HOUSEHOLD,
            visited_on=date(2026, 11, 1),
            business_status="stalled",
            notes="Pak Yohanes sakit, warung tutup dua minggu",
        ),
        agency="dkukmpp",
        agencies=AGENCIES,
        household=ENROLLED,
        visit_id=uuid.uuid4(),
        now=NOW,
    )
    assert visit.notes
    assert "Yohanes" not in mentoring_visited(visit).model_dump_json()


def test_budget_allocation_is_for_the_caller_agency() -> None:
    allocation = allocate_budget(
        BudgetAllocationRequest(fiscal_year=2026, amount_idr=500_000_000),
        agency="distakan",
        agencies=AGENCIES,
        allocation_id=uuid.uuid4(),
        now=NOW,
    )
    assert allocation.agency == "distakan"
    with pytest.raises(ForbiddenError, match="dishub"):
        allocate_budget(
            BudgetAllocationRequest(fiscal_year=2026, amount_idr=1),
            agency="dishub",
            agencies=AGENCIES,
            allocation_id=uuid.uuid4(),
            now=NOW,
        )


def void(reason: str = "duplicate", explanation: str | None = None) -> VoidRequest:
    return VoidRequest.model_validate(
        {
            "intervention_type": "grant",
            "intervention_id": str(uuid.uuid4()),
            "reason": reason,
            "explanation": explanation,
        }
    )


def test_only_the_agency_that_made_a_record_voids_it_and_only_once() -> None:
    target = VoidTarget(id=uuid.uuid4(), agency="distakan", household_id=HOUSEHOLD, voided=False)
    done = void_record(void(), agency="distakan", target=target, void_id=uuid.uuid4(), now=NOW)
    assert (done.agency, done.household_id) == ("distakan", HOUSEHOLD)
    assert done.intervention_id == target.id
    with pytest.raises(ForbiddenError, match="distakan"):
        void_record(void(), agency="dispar", target=target, void_id=uuid.uuid4(), now=NOW)
    with pytest.raises(ConflictError):
        void_record(
            void(),
            agency="distakan",
            target=target.model_copy(update={"voided": True}),
            void_id=uuid.uuid4(),
            now=NOW,
        )
    with pytest.raises(NotFoundError):
        void_record(void(), agency="distakan", target=None, void_id=uuid.uuid4(), now=NOW)


def test_reason_other_needs_an_explanation() -> None:
    target = VoidTarget(id=uuid.uuid4(), agency="dinsos", household_id=None, voided=False)
    with pytest.raises(RuleViolationError) as caught:
        void_record(void("other"), agency="dinsos", target=target, void_id=uuid.uuid4(), now=NOW)
    assert caught.value.field == "explanation"
    assert void_record(
        void("other", "salah input"), agency="dinsos", target=target, void_id=uuid.uuid4(), now=NOW
    )


@pytest.mark.parametrize(
    ("day", "ok"),
    [
        (date(2026, 10, 26), False),  # the day before the session
        (date(2026, 10, 27), True),
        (date(2026, 10, 29), True),
        (date(2026, 10, 30), False),  # the day after
    ],
)
def test_attendance_only_on_the_days_of_the_session(day: date, ok: bool) -> None:
    participant = join(participation())
    request = AttendanceRequest(
        session_id=SESSION.id, household_id=HOUSEHOLD, member_id=MEMBER, attended_on=day
    )
    kwargs: dict[str, Any] = {
        "agency": "dispar",
        "agencies": AGENCIES,
        "session": SESSION,
        "household": ENROLLED,
        "participant": participant,
        "attended_already": False,
        "attendance_id": uuid.uuid4(),
        "now": NOW,
    }
    if ok:
        assert record_attendance(request, **kwargs).participant_id == participant.id
        with pytest.raises(ConflictError):
            record_attendance(request, **{**kwargs, "attended_already": True})
    else:
        with pytest.raises(RuleViolationError) as caught:
            record_attendance(request, **kwargs)
        assert caught.value.field == "attended_on"
