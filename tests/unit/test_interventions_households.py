"""What interventions knows of a household comes from the registry's events, whatever their
order and however often they arrive."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gayari_interventions.domain.households import (
    HouseholdEvent,
    KnownHousehold,
    apply_household_event,
)
from gayari_shared.events.contracts import (
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
)

HOUSEHOLD = uuid.uuid4()
T0 = datetime(2026, 1, 5, tzinfo=UTC)
FIRST, SECOND, THIRD = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def registered(members: list[uuid.UUID]) -> HouseholdRegisteredV1:
    return HouseholdRegisteredV1(
        household_id=HOUSEHOLD,
        village_code="62.09.01.2001",
        welfare_decile=2,
        member_count=max(1, len(members)),
        kk_hash="ab" * 32,
        registered_at=T0,
        member_ids=members,
    )


def enrolled(days: int) -> HouseholdEnrolledV1:
    return HouseholdEnrolledV1(
        household_id=HOUSEHOLD,
        cohort_year=2026,
        enrolling_agency="dinsos",
        enrolled_at=T0 + timedelta(days=days),
    )


def exited(days: int) -> HouseholdExitedV1:
    return HouseholdExitedV1(
        household_id=HOUSEHOLD, reason="graduated", exited_at=T0 + timedelta(days=days)
    )


def members_changed(days: int, members: list[uuid.UUID]) -> HouseholdDetailsChangedV1:
    return HouseholdDetailsChangedV1(
        household_id=HOUSEHOLD,
        changed=["members"],
        member_count=len(members),
        changed_at=T0 + timedelta(days=days),
        member_ids=members,
    )


def fold(events: list[HouseholdEvent]) -> KnownHousehold:
    known = KnownHousehold(household_id=HOUSEHOLD)
    for event in events:
        known = apply_household_event(known, event)
    return known


def test_registered_is_known_but_not_enrolled() -> None:
    known = fold([registered([FIRST])])
    assert not known.enrolled and not known.exited
    assert known.member_ids == frozenset({FIRST})


LIFE: list[HouseholdEvent] = [
    registered([FIRST]),
    enrolled(1),
    members_changed(2, [FIRST, SECOND]),
    exited(30),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(LIFE)))))
def test_any_order_and_any_repetition_end_the_same(order: tuple[int, ...]) -> None:
    events = [LIFE[i] for i in order]
    expected = fold(LIFE)
    assert expected.exited and not expected.enrolled
    assert expected.member_ids == frozenset({FIRST, SECOND})
    assert fold(events) == expected
    assert fold(events + events[:2]) == expected  # redelivered


def test_enrolled_again_after_an_exit() -> None:
    again: list[HouseholdEvent] = [registered([]), enrolled(1), exited(30), enrolled(60)]
    assert fold(again).enrolled
    assert fold(list(reversed(again))).enrolled


def test_events_without_member_ids_do_not_forget_the_members() -> None:
    decile = HouseholdDetailsChangedV1(
        household_id=HOUSEHOLD,
        changed=["welfare_decile"],
        welfare_decile=4,
        changed_at=T0 + timedelta(days=3),
    )
    known = fold([registered([FIRST, THIRD]), decile])
    assert known.member_ids == frozenset({FIRST, THIRD})
    assert fold([registered([])]).member_ids is None


def test_a_repeated_event_changes_nothing() -> None:
    known = fold([registered([FIRST]), enrolled(1)])
    assert apply_household_event(known, enrolled(1)) is known
    assert apply_household_event(known, registered([FIRST])) is known
