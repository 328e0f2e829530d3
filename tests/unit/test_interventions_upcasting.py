"""Old intervention events are read as the newest version: grants v1 as v2, training
completions v1 as v2."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from gayari_shared.events.contracts import (
    GrantIssuedV1,
    GrantIssuedV2,
    TrainingCompletedV1,
    TrainingCompletedV2,
)
from gayari_shared.events.factory import envelope_for, parse_data
from gayari_shared.events.interventions import UNRECORDED_PURPOSE_V1
from gayari_shared.events.upcasting import superseded, to_latest


def grant_v1(issued_at: datetime) -> GrantIssuedV1:
    return GrantIssuedV1(
        household_id=uuid.uuid4(),
        grant_id=uuid.uuid4(),
        agency="dispar",
        kind="equipment",
        amount_idr=4_750_000,
        issued_at=issued_at,
    )


@pytest.mark.parametrize(
    ("issued_at", "fiscal_year"),
    [
        (datetime(2026, 12, 31, 20, 0, tzinfo=UTC), 2027),  # 03:00 on 1 Jan in Jakarta
        (datetime(2026, 12, 31, 16, 59, tzinfo=UTC), 2026),  # 23:59 on 31 Dec in Jakarta
        (datetime(2026, 12, 31, 17, 0, tzinfo=UTC), 2027),  # midnight in Jakarta
        (datetime(2026, 6, 15, 8, 0, tzinfo=UTC), 2026),
    ],
)
def test_grant_v1_fiscal_year_is_the_year_in_jakarta(issued_at: datetime, fiscal_year: int) -> None:
    old = grant_v1(issued_at)
    new = to_latest(old)
    assert isinstance(new, GrantIssuedV2)
    assert new.fiscal_year == fiscal_year
    assert (new.purpose, new.budget_line, new.items) == (UNRECORDED_PURPOSE_V1, None, [])
    assert (new.grant_id, new.household_id, new.agency, new.kind, new.amount_idr) == (
        old.grant_id,
        old.household_id,
        old.agency,
        old.kind,
        old.amount_idr,
    )
    assert new.issued_at == issued_at


def test_consumers_read_a_published_v1_as_v2() -> None:
    old = grant_v1(datetime(2025, 3, 1, tzinfo=UTC))
    envelope = envelope_for(old, source="/gayari/agencies/dispar", correlation_id="c")
    assert envelope.type == "gayari.grant.issued.v1"
    parsed = parse_data(envelope)
    assert isinstance(parsed, GrantIssuedV2)
    assert parsed.fiscal_year == 2025


def test_training_completion_v1_is_read_as_v2_without_session_or_member() -> None:
    old = TrainingCompletedV1(
        household_id=uuid.uuid4(),
        completion_id=uuid.uuid4(),
        agency="dkukmpp",
        topic="Pembukuan usaha",
        hours=16,
        completed_on=date(2026, 11, 1),
        recorded_at=datetime(2026, 11, 2, tzinfo=UTC),
    )
    new = to_latest(old)
    assert isinstance(new, TrainingCompletedV2)
    assert (new.session_id, new.member_id) == (None, None)
    assert (new.completion_id, new.topic, new.hours) == (old.completion_id, "Pembukuan usaha", 16)


def test_producers_publish_only_the_newest_versions() -> None:
    assert superseded(GrantIssuedV1) and superseded(TrainingCompletedV1)
    assert not superseded(GrantIssuedV2) and not superseded(TrainingCompletedV2)
