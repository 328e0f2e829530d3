"""Reading records back: the cursor names a keyset and nothing else, a page says whether there
is a next one, and a void names its record by exactly one id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gayari_interventions.domain.records import (
    BudgetAllocationRecord,
    Keyset,
    StoredRecord,
    decode_cursor,
    encode_cursor,
    paged,
)
from gayari_interventions.domain.voids import VoidRequest

AT = datetime(2026, 11, 30, 2, 15, 0, 4, tzinfo=UTC)


def test_a_cursor_round_trips_its_keyset() -> None:
    key = Keyset(AT, uuid.uuid4())
    assert decode_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-a-cursor",
        "W10",  # []
        encode_cursor(Keyset(AT, uuid.uuid4())) + "x" * 300,
        # A time without offset, a bad id, a time that has no UTC equivalent:
        "WyIyMDI2LTExLTMwVDAyOjE1OjAwIiwgIjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCJd",
        "WyIyMDI2LTExLTMwVDAyOjE1OjAwWiIsICJ4Il0",
        "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwIiwgIjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCJd",
    ],
)
def test_anything_else_is_not_a_cursor(text: str) -> None:
    assert decode_cursor(text) is None


def allocation(n: int) -> StoredRecord:
    return BudgetAllocationRecord(
        id=uuid.UUID(int=n),
        agency="dinsos",
        fiscal_year=2026,
        amount_idr=1_000_000,
        budget_line=None,
        allocated_at=AT,
        external_id=None,
        changed_at=AT,
        void=None,
    )


def test_a_page_has_a_next_cursor_only_when_more_was_read() -> None:
    rows = [allocation(n) for n in range(1, 4)]
    page, after = paged(rows, 2)
    assert [r.id for r in page] == [rows[0].id, rows[1].id]
    assert after is not None and decode_cursor(after) == Keyset(AT, rows[1].id)
    assert paged(rows, 3) == (rows, None)


@pytest.mark.parametrize(
    "ids",
    [{}, {"intervention_id": str(uuid.uuid4()), "external_id": str(uuid.uuid4())}],
)
def test_a_void_names_its_record_by_exactly_one_id(ids: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="either intervention_id or external_id"):
        VoidRequest.model_validate({"intervention_type": "grant", "reason": "duplicate", **ids})
    one = VoidRequest.model_validate(
        {"intervention_type": "grant", "reason": "duplicate", "external_id": str(uuid.uuid4())}
    )
    assert one.intervention_id is None and "external id" in one.what
