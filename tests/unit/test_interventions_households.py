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
    fold_household_events,
    merge_household,
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


def registered(
    members: list[uuid.UUID], village: str = "62.09.01.2001", household: uuid.UUID = HOUSEHOLD
) -> HouseholdRegisteredV1:
    return HouseholdRegisteredV1(
        household_id=household,
        village_code=village,
        welfare_decile=2,
        member_count=max(1, len(members)),
        kk_hash="ab" * 32,
        registered_at=T0,
        member_ids=members,
    )


def enrolled(days: int, household: uuid.UUID = HOUSEHOLD) -> HouseholdEnrolledV1:
    return HouseholdEnrolledV1(
        household_id=household,
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


# -- a batch at once: folded per household, then merged into what is stored ------------------

Stored = tuple[KnownHousehold | None, uuid.UUID | None]  # the row and its event_id column
Identified = list[tuple[HouseholdEvent, uuid.UUID]]


def one_by_one(stored: Stored, events: Identified) -> Stored:
    """The consumer as it was: each event in its own transaction, the row saved (with the
    event's id) whenever the event changed it."""
    known, last = stored
    for event, event_id in events:
        before = known or KnownHousehold(household_id=event.household_id)
        after = apply_household_event(before, event)
        if after != known:
            known, last = after, event_id
    return known, last


def batched(stored: Stored, events: Identified) -> Stored:
    changes = fold_household_events(events).get(HOUSEHOLD)
    if changes is None:
        return stored
    merged = merge_household(stored[0], changes)
    return stored if merged is None else merged


def identified(events: list[HouseholdEvent]) -> Identified:
    return [(event, uuid.uuid4()) for event in events]


# Ties and losers included: a second registration (the first one stays), two member lists of
# one time (the first one stays), an earlier enrolment, a change that tells no members.
BUSY: Identified = identified(
    [
        registered([FIRST]),
        registered([THIRD], village="62.09.02.2002"),
        enrolled(1),
        members_changed(2, [FIRST, SECOND]),
        members_changed(2, [THIRD]),
        exited(30),
        enrolled(60),
        HouseholdDetailsChangedV1(
            household_id=HOUSEHOLD,
            changed=["welfare_decile"],
            welfare_decile=4,
            changed_at=T0 + timedelta(days=3),
        ),
    ]
)
# Orders of a sample of the events, so that every event type leads some of them.
ORDERS = [
    order
    for picked in ((0, 1, 3, 4, 6), (0, 2, 5, 6, 7), (1, 2, 3, 5, 7))
    for order in itertools.permutations(picked)
]


@pytest.mark.parametrize("order", ORDERS)
def test_a_batch_ends_where_its_events_one_by_one_end(order: tuple[int, ...]) -> None:
    events = [BUSY[i] for i in order]
    nothing: Stored = (None, None)
    assert batched(nothing, events) == one_by_one(nothing, events)
    # In two batches, at every cut (the first one stored, the second merged into it), and
    # with both read again (a batch redelivered after a crash or a rebalance).
    for cut in range(1, len(events)):
        first, second = events[:cut], events[cut:]
        expected = one_by_one(one_by_one(nothing, first), second)
        assert batched(batched(nothing, first), second) == expected
        assert batched(batched(nothing, first), events) == one_by_one(expected, events)


def test_a_batch_that_changes_nothing_leaves_the_row_alone() -> None:
    stored = one_by_one((None, None), BUSY)
    assert stored[0] is not None and stored[0].exited is False and stored[0].enrolled
    changes = fold_household_events(BUSY[:6])[HOUSEHOLD]
    assert merge_household(stored[0], changes) is None


def test_an_unknown_household_is_stored_even_if_its_events_tell_nothing() -> None:
    (event, event_id), *_ = identified(
        [
            HouseholdDetailsChangedV1(
                household_id=HOUSEHOLD,
                changed=["welfare_decile"],
                welfare_decile=4,
                changed_at=T0,
            )
        ]
    )
    merged = merge_household(None, fold_household_events([(event, event_id)])[HOUSEHOLD])
    assert merged == (KnownHousehold(household_id=HOUSEHOLD), event_id)


def test_a_batch_is_folded_per_household() -> None:
    other = uuid.uuid4()
    events = identified(
        [registered([FIRST]), registered([SECOND], household=other), enrolled(1, other)]
    )
    folded = fold_household_events(events)
    assert set(folded) == {HOUSEHOLD, other}
    mine, theirs = merge_household(None, folded[HOUSEHOLD]), merge_household(None, folded[other])
    assert mine is not None and theirs is not None
    assert mine == (
        KnownHousehold(household_id=HOUSEHOLD).model_copy(
            update={
                "village_code": "62.09.01.2001",
                "welfare_decile": 2,
                "registered_at": T0,
                "kk_hash": "ab" * 32,
                "member_ids": frozenset({FIRST}),
                "members_as_of": T0,
            }
        ),
        events[0][1],
    )
    assert theirs[0].enrolled and theirs[0].member_ids == frozenset({SECOND})
    assert theirs[1] == events[2][1]
