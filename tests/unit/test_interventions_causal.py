"""Deciding on what interventions knows of a household, without infrastructure: the registry's
version it has reached (require_current), and records dated before the household's enrolment
(not_before_enrolment)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from gayari_interventions.domain.households import (
    HouseholdBehindError,
    HouseholdNotKnownYetError,
    KnownHousehold,
    apply_household_event,
    fold_household_events,
    merge_household,
    not_before_enrolment,
    require_current,
    require_enrolled,
)
from gayari_interventions.domain.monitoring import (
    BusinessSurveyRequest,
    MentoringVisitRequest,
    record_survey,
    record_visit,
)
from gayari_interventions.domain.training import (
    AttendanceRequest,
    CompletionRequest,
    Participant,
    TrainingSession,
    complete_training,
    record_attendance,
)
from gayari_shared.events.contracts import (
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
)
from gayari_shared.rules import RuleViolationError

HOUSEHOLD = uuid.uuid4()
MEMBER = uuid.uuid4()
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
AGENCIES = frozenset({"dinsos", "dispar"})
# Enrolled at 20:00 UTC on 9 March: already 10 March in Lamandau (UTC+7).
REGISTERED = KnownHousehold(
    household_id=HOUSEHOLD,
    registered_at=datetime(2026, 3, 1, 2, 0, tzinfo=UTC),
    member_ids=frozenset({MEMBER}),
    version=1,
)
ENROLLED = REGISTERED.model_copy(
    update={"enrolled_at": datetime(2026, 3, 9, 20, 0, tzinfo=UTC), "version": 2}
)
EXITED = ENROLLED.model_copy(
    update={
        "exited_at": datetime(2026, 10, 1, tzinfo=UTC),
        "exit_reason": "graduated",
        "version": 3,
    }
)


# -- require_current --------------------------------------------------------------------------


@pytest.mark.parametrize("known", [None, REGISTERED])
def test_without_a_version_a_household_not_known_as_enrolled_is_not_known_yet(
    known: KnownHousehold | None,
) -> None:
    with pytest.raises(HouseholdNotKnownYetError) as caught:
        require_current(HOUSEHOLD, known, None)
    assert str(HOUSEHOLD) in caught.value.message
    assert "Gayari-Household-Version" in caught.value.message
    assert caught.value.retry_after_s >= 1


@pytest.mark.parametrize("known", [ENROLLED, EXITED])
def test_without_a_version_enrolled_and_exited_households_are_decided(
    known: KnownHousehold,
) -> None:
    require_current(HOUSEHOLD, known, None)


@pytest.mark.parametrize(
    ("known", "version"),
    [(None, 1), (None, 0), (REGISTERED, 2), (ENROLLED, 3)],
)
def test_a_view_behind_the_version_named_is_behind(
    known: KnownHousehold | None, version: int
) -> None:
    with pytest.raises(HouseholdBehindError) as caught:
        require_current(HOUSEHOLD, known, version)
    assert f"version {version}" in caught.value.message


@pytest.mark.parametrize(
    ("known", "version"),
    [(REGISTERED, 1), (ENROLLED, 2), (ENROLLED, 1), (EXITED, 3), (EXITED, 2)],
)
def test_a_view_at_or_past_the_version_named_is_decided(
    known: KnownHousehold, version: int
) -> None:
    require_current(HOUSEHOLD, known, version)


def test_with_the_exits_version_the_exit_is_final() -> None:
    with pytest.raises(RuleViolationError, match="exited"):
        require_enrolled(HOUSEHOLD, EXITED, 3)
    with pytest.raises(HouseholdBehindError):
        require_enrolled(HOUSEHOLD, ENROLLED, 3)  # the exit has not reached it


def test_with_its_version_a_household_never_enrolled_is_refused() -> None:
    # The client's own write left it registered, not enrolled: that is final for it.
    with pytest.raises(RuleViolationError, match="not enrolled"):
        require_enrolled(HOUSEHOLD, REGISTERED, 1)
    with pytest.raises(HouseholdNotKnownYetError):
        require_enrolled(HOUSEHOLD, REGISTERED)


# -- the version travels in the registry's events ---------------------------------------------


def _events() -> list[Any]:
    return [
        HouseholdRegisteredV1(
            household_id=HOUSEHOLD,
            village_code="62.09.01.2001",
            welfare_decile=2,
            member_count=1,
            kk_hash="ab" * 32,
            registered_at=datetime(2026, 3, 1, tzinfo=UTC),
            household_version=1,
        ),
        HouseholdEnrolledV1(
            household_id=HOUSEHOLD,
            cohort_year=2026,
            enrolling_agency="dinsos",
            enrolled_at=datetime(2026, 3, 9, tzinfo=UTC),
            household_version=2,
        ),
        HouseholdExitedV1(
            household_id=HOUSEHOLD,
            reason="moved",
            exited_at=datetime(2026, 10, 1, tzinfo=UTC),
            household_version=3,
        ),
    ]


def test_the_latest_version_applied_is_kept_one_by_one_and_in_a_batch() -> None:
    events = _events()
    known = KnownHousehold(household_id=HOUSEHOLD)
    for event in [*events, events[0]]:  # a redelivered registration does not take it back
        known = apply_household_event(known, event)
    assert known.version == 3
    folded = fold_household_events((event, uuid.uuid4()) for event in [*events, events[1]])
    merged = merge_household(None, folded[HOUSEHOLD])
    assert merged is not None
    assert merged[0].version == 3
    assert merged[0] == known


def test_a_version_alone_is_a_change_and_an_older_one_is_not() -> None:
    base = KnownHousehold(household_id=HOUSEHOLD, version=4)
    [older] = fold_household_events([(_events()[2], uuid.uuid4())]).values()
    # The exit is news (its time), not its version 3 < 4: the version stays.
    merged = merge_household(base, older)
    assert merged is not None and merged[0].version == 4
    event_id = uuid.uuid4()
    again = merged[0]
    newer = _events()[2].model_copy(update={"household_version": 5})
    [changes] = fold_household_events([(newer, event_id)]).values()
    moved = merge_household(again, changes)
    assert moved is not None
    assert moved == (again.model_copy(update={"version": 5}), event_id)


def test_events_without_a_version_leave_it_alone() -> None:
    unversioned = [e.model_copy(update={"household_version": None}) for e in _events()]
    known = KnownHousehold(household_id=HOUSEHOLD, version=2)
    for event in unversioned:
        known = apply_household_event(known, event)
    assert known.version == 2


# -- records dated before the household's registration or enrolment ---------------------------


@pytest.mark.parametrize(
    ("day", "refused"),
    [
        (date(2026, 2, 28), "registration"),
        (date(2026, 3, 9), "enrolment"),  # 20:00 UTC on the 9th is the 10th in Lamandau
        (date(2026, 3, 10), None),
        (date(2026, 6, 1), None),
    ],
)
def test_a_record_dated_before_the_enrolment_is_refused(day: date, refused: str | None) -> None:
    if refused is None:
        not_before_enrolment("visited_on", day, ENROLLED)
        return
    with pytest.raises(RuleViolationError) as caught:
        not_before_enrolment("visited_on", day, ENROLLED)
    assert caught.value.field == "visited_on"
    assert refused in caught.value.message


def test_every_dated_record_of_a_household_keeps_the_rule() -> None:
    early = date(2026, 3, 2)
    with pytest.raises(RuleViolationError) as visit:
        record_visit(
            MentoringVisitRequest(
                household_id=HOUSEHOLD, visited_on=early, business_status="running"
            ),
            agency="dinsos",
            agencies=AGENCIES,
            household=ENROLLED,
            visit_id=uuid.uuid4(),
            now=NOW,
        )
    assert visit.value.field == "visited_on"
    with pytest.raises(RuleViolationError) as survey:
        record_survey(
            BusinessSurveyRequest(
                household_id=HOUSEHOLD, surveyed_on=early, monthly_income_idr=1, workers=1
            ),
            agency="dinsos",
            agencies=AGENCIES,
            household=ENROLLED,
            survey_id=uuid.uuid4(),
            now=NOW,
        )
    assert survey.value.field == "surveyed_on"
    session = TrainingSession(
        id=uuid.uuid4(),
        agency="dispar",
        topic="Homestay",
        starts_on=date(2026, 3, 1),
        ends_on=date(2026, 3, 12),
        hours=10,
        place="Nanga Bulik",
        recorded_at=NOW,
    )
    participant = Participant(
        id=uuid.uuid4(),
        session_id=session.id,
        household_id=HOUSEHOLD,
        member_id=MEMBER,
        agency="dispar",
        added_at=NOW,
    )
    who = {"session_id": session.id, "household_id": HOUSEHOLD, "member_id": MEMBER}
    with pytest.raises(RuleViolationError) as attendance:
        record_attendance(
            AttendanceRequest(**who, attended_on=early),
            agency="dispar",
            agencies=AGENCIES,
            session=session,
            household=ENROLLED,
            participant=participant,
            attended_already=False,
            attendance_id=uuid.uuid4(),
            now=NOW,
        )
    assert attendance.value.field == "attended_on"
    with pytest.raises(RuleViolationError) as completion:
        complete_training(
            CompletionRequest(**who, completed_on=early),
            agency="dispar",
            agencies=AGENCIES,
            session=session,
            household=ENROLLED,
            participant=participant,
            completed_already=False,
            completion_id=uuid.uuid4(),
            now=NOW,
        )
    assert completion.value.field == "completed_on"
    # On the day of the enrolment (in Lamandau) it is taken.
    taken = record_attendance(
        AttendanceRequest(**who, attended_on=date(2026, 3, 10)),
        agency="dispar",
        agencies=AGENCIES,
        session=session,
        household=ENROLLED,
        participant=participant,
        attended_already=False,
        attendance_id=uuid.uuid4(),
        now=NOW,
    )
    assert taken.attended_on == date(2026, 3, 10)
