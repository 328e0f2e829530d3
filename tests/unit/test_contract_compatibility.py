"""Published event schemas stay compatible: a breaking change needs a new version."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import Field

from gayari_shared.events.base import EventData
from gayari_shared.events.schemas import breaking_changes, check, schema_of

PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_published_schemas_match_the_models() -> None:
    assert check(PUBLISHED) == []


class Base(EventData):
    TYPE: ClassVar[str] = "gayari.test.happened.v1"
    STREAM: ClassVar[str] = "test"

    kind: Literal["capital", "equipment"]
    amount_idr: int = Field(gt=0, le=1_000_000)
    note: str | None = None
    tags: list[str] = Field(default_factory=list)


class FieldRemoved(EventData):
    TYPE: ClassVar[str] = Base.TYPE
    STREAM: ClassVar[str] = "test"
    kind: Literal["capital", "equipment"]
    note: str | None = None
    tags: list[str] = Field(default_factory=list)


class FieldRenamed(EventData):
    TYPE: ClassVar[str] = Base.TYPE
    STREAM: ClassVar[str] = "test"
    kind: Literal["capital", "equipment"]
    amount: int = Field(gt=0, le=1_000_000)
    note: str | None = None
    tags: list[str] = Field(default_factory=list)


class TypeNarrowed(EventData):
    TYPE: ClassVar[str] = Base.TYPE
    STREAM: ClassVar[str] = "test"
    kind: Literal["capital", "equipment"]
    amount_idr: int = Field(gt=0, le=1_000_000)
    note: str = "x"  # no longer nullable
    tags: list[str] = Field(default_factory=list)


class EnumNarrowed(EventData):
    TYPE: ClassVar[str] = Base.TYPE
    STREAM: ClassVar[str] = "test"
    kind: Literal["capital"]
    amount_idr: int = Field(gt=0, le=1_000_000)
    note: str | None = None
    tags: list[str] = Field(default_factory=list)


class BoundTightened(EventData):
    TYPE: ClassVar[str] = Base.TYPE
    STREAM: ClassVar[str] = "test"
    kind: Literal["capital", "equipment"]
    amount_idr: int = Field(gt=0, le=500_000)
    note: str | None = None
    tags: list[str] = Field(default_factory=list)


class NewRequiredField(EventData):
    TYPE: ClassVar[str] = Base.TYPE
    STREAM: ClassVar[str] = "test"
    kind: Literal["capital", "equipment"]
    amount_idr: int = Field(gt=0, le=1_000_000)
    note: str | None = None
    tags: list[str] = Field(default_factory=list)
    fiscal_year: int


class ItemsNarrowed(EventData):
    TYPE: ClassVar[str] = Base.TYPE
    STREAM: ClassVar[str] = "test"
    kind: Literal["capital", "equipment"]
    amount_idr: int = Field(gt=0, le=1_000_000)
    note: str | None = None
    tags: list[int] = Field(default_factory=list)


class CompatibleGrowth(EventData):
    """Optional field added, enum widened, bound relaxed: old and new events both fit."""

    TYPE: ClassVar[str] = Base.TYPE
    STREAM: ClassVar[str] = "test"
    kind: Literal["capital", "equipment", "in-kind"]
    amount_idr: int = Field(gt=0, le=2_000_000)
    note: str | None = None
    tags: list[str] = Field(default_factory=list)
    purpose: str | None = None


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (FieldRemoved, "amount_idr: removed or renamed"),
        (FieldRenamed, "amount_idr: removed or renamed"),
        (TypeNarrowed, "note: type narrowed"),
        (EnumNarrowed, "kind: values ['equipment'] no longer allowed"),
        (BoundTightened, "amount_idr: maximum lowered to 500000"),
        (NewRequiredField, "fiscal_year: new required field"),
        (ItemsNarrowed, "tags[]: type narrowed"),
    ],
)
def test_breaking_changes_are_found(changed: type[EventData], expected: str) -> None:
    problems = breaking_changes(schema_of(Base), schema_of(changed))
    assert any(p.startswith(expected) for p in problems), problems


def test_compatible_growth_is_allowed() -> None:
    assert breaking_changes(schema_of(Base), schema_of(CompatibleGrowth)) == []
    assert breaking_changes(schema_of(Base), schema_of(Base)) == []
