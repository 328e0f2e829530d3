"""Household CSV files (like an extract of the national social welfare data): one row per member,
the rows of one KK consecutive. Pure: turns rows into applications and errors into row reports.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from gayari_registry.domain.model import (
    Address,
    Digits16,
    HouseholdApplication,
    Neighbourhood,
    NewMember,
    PersonName,
    Relationship,
    Sex,
    VillageCode,
)
from gayari_shared.inputs import DIGITS_ONLY, FreeText

COLUMNS: Final = (
    "kk",
    "village_code",
    "rt",
    "rw",
    "address",
    "welfare_decile",
    "nik",
    "name",
    "sex",
    "birth_date",
    "relationship",
)
HOUSEHOLD_COLUMNS: Final = ("village_code", "rt", "rw", "address", "welfare_decile")

# Extracts of the national data write these in Indonesian; the API's own values pass as they are.
_SEXES: Final = {"l": "M", "laki-laki": "M", "p": "F", "perempuan": "F"}
_RELATIONSHIPS: Final = {
    "kepala keluarga": "head",
    "suami": "spouse",
    "istri": "spouse",
    "anak": "child",
    "orang tua": "parent",
    "mertua": "parent",
    "famili lain": "other",
    "lainnya": "other",
}


def _alias(table: Mapping[str, str]) -> BeforeValidator:
    return BeforeValidator(lambda v: table.get(v.strip().lower(), v) if isinstance(v, str) else v)


_ISO: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: object) -> object:
    # pydantic would take "19800105" or a number as a date; a CSV column means YYYY-MM-DD only.
    if isinstance(value, str) and not _ISO.match(value.strip()):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


class ImportRow(BaseModel):
    """One CSV row, checked column by column."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    kk: Digits16
    village_code: VillageCode
    rt: Neighbourhood
    rw: Neighbourhood
    address: FreeText = Field(max_length=200)
    welfare_decile: Annotated[int, Field(ge=1, le=10), DIGITS_ONLY]
    nik: Digits16
    name: PersonName
    sex: Annotated[Sex, _alias(_SEXES)]
    birth_date: Annotated[date, BeforeValidator(_iso_date)]
    relationship: Annotated[Relationship, _alias(_RELATIONSHIPS)]


@dataclass(frozen=True, slots=True)
class CsvRecord:
    number: int  # the record's number in the file; the header is record 1
    values: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RowError:
    column: str
    message: str


@dataclass(frozen=True, slots=True)
class RowReport:
    row: int
    kk: str
    status: Literal["created", "existing", "rejected"]
    household_id: uuid.UUID | None = None
    errors: tuple[RowError, ...] = ()


@dataclass(slots=True)
class Rejection:
    """Errors of a KK's rows, by their index in the group."""

    errors: dict[int, list[RowError]] = field(default_factory=dict)

    def add(self, index: int, error: RowError) -> None:
        self.errors.setdefault(index, []).append(error)


def header_of(values: Sequence[str]) -> list[str]:
    """Column names as the file gives them, compared without case or surrounding spaces."""
    return [name.strip().lower() for name in values]


def missing_columns(header: Sequence[str]) -> list[str]:
    """Required columns the header lacks; columns beyond these are ignored."""
    return [name for name in COLUMNS if name not in header]


def parse_row(values: Mapping[str, str]) -> ImportRow | list[RowError]:
    """The row's columns checked: a cell is text, a number only when written in digits 0-9
    (spreadsheets' padding around it aside), and no cell holds a control character."""
    try:
        return ImportRow.model_validate({name: value.strip() for name, value in values.items()})
    except ValidationError as exc:
        return [RowError(str(e["loc"][0]) if e["loc"] else "row", e["msg"]) for e in exc.errors()]


def application_of(
    parsed: Sequence[ImportRow | list[RowError]], seen_kks: set[str]
) -> HouseholdApplication | Rejection:
    """The application a KK's rows make, or why they make none. `seen_kks` holds the KKs
    earlier in the file: a KK whose rows are not consecutive would split a family."""
    rejection = Rejection()
    rows: list[ImportRow] = []
    for i, row in enumerate(parsed):
        if isinstance(row, list):
            for error in row:
                rejection.add(i, error)
        else:
            rows.append(row)
    if rejection.errors:
        return rejection
    first = rows[0]
    if first.kk in seen_kks:
        rejection.add(
            0, RowError("kk", "appears earlier in the file: a KK's rows must be together")
        )
    for i, row in enumerate(rows[1:], start=1):
        for column in HOUSEHOLD_COLUMNS:
            if getattr(row, column) != getattr(first, column):
                rejection.add(i, RowError(column, "differs from the KK's first row"))
    if rejection.errors:
        return rejection
    heads = [row.name for row in rows if row.relationship == "head"]
    return HouseholdApplication(
        kk=first.kk,
        head_name=heads[0] if heads else first.name,
        village_code=first.village_code,
        address=Address(rt=first.rt, rw=first.rw, street=first.address),
        welfare_decile=first.welfare_decile,
        members=[
            NewMember.model_validate(
                row.model_dump(include={"name", "nik", "sex", "birth_date", "relationship"})
            )
            for row in rows
        ],
    )


_MEMBER_FIELD: Final = re.compile(r"^members\.(\d+)\.(\w+)$")


def rejection_of(violations: Sequence[tuple[str, str]]) -> Rejection:
    """Rule violations of the application (fields like `members.2.nik`) as errors of the rows
    (the third row, column nik); household-wide ones go to the KK's first row."""
    rejection = Rejection()
    for name, message in violations:
        if (match := _MEMBER_FIELD.match(name)) is not None:
            rejection.add(int(match[1]), RowError(match[2], message))
        elif name == "members":
            rejection.add(0, RowError("relationship", message))
        else:
            rejection.add(0, RowError(name, message))
    return rejection


def rejected_rows(records: Sequence[CsvRecord], rejection: Rejection) -> list[RowReport]:
    """Every row of a rejected KK is rejected: a family is registered whole or not at all."""
    culprits = ", ".join(str(records[i].number) for i in sorted(rejection.errors))
    return [
        RowReport(
            row=record.number,
            kk=record.values.get("kk", "").strip(),
            status="rejected",
            errors=tuple(
                rejection.errors.get(i)
                or [RowError("kk", f"the household is rejected; see row {culprits}")]
            ),
        )
        for i, record in enumerate(records)
    ]
