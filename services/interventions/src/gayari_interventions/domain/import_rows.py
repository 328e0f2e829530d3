"""One row of an agency's spreadsheet: its cells read by the strict rules of values, the record it
asks for, and what became of it. Pure: no I/O.

Cells (gayari_shared.inputs, applied to spreadsheets):
- A CSV cell is text: a number is written in the digits 0-9 only ("2500000"; "2.500.000",
  "Rp 2500000", "2,5e6" are refused), a day as YYYY-MM-DD.
- An XLSX cell has a type and is taken as that type, never converted:
  - a number column takes a number cell. A text cell is refused even if it holds digits: in
    Indonesian spreadsheets "2.500.000" and "2,5" are ambiguous, and a number typed as text is
    usually one the spreadsheet did not understand. Every spreadsheet number is a binary
    floating-point value, so 2500000 and 2500000.0 are one value; one with a fraction is not a
    whole number;
  - a date column takes a date cell (with no time of day) or a text YYYY-MM-DD; a number (a
    day's serial number in a cell not formatted as a date) is refused, as is any other text
    ("03/11/2026": is it March or November?);
  - a text column takes a text cell; a number is refused: a 16-digit KK typed as a number has
    already been rounded by the spreadsheet (it keeps 15 digits), so it cannot be trusted.
- No cell holds a control character (a line break only in free text such as notes).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Final, Literal

from pydantic import BaseModel, ValidationError

from gayari_interventions.domain.import_reasons import Reason, cell_reason, validation_reason
from gayari_interventions.domain.import_templates import (
    EXAMPLE_PREFIX,
    ROW_REF,
    Column,
    ImportKind,
    Template,
)
from gayari_shared.events.interventions import InterventionType
from gayari_shared.inputs import Text64

Source = Literal["csv", "xlsx"]
Status = Literal["recorded", "unchanged", "corrected", "refused", "skipped"]
# The status column, in Bahasa Indonesia with the English word beside it.
STATUS_TEXT: Final[dict[Status, str]] = {
    "recorded": "tercatat (recorded)",
    "unchanged": "tidak berubah (unchanged)",
    "corrected": "dikoreksi (corrected)",
    "refused": "ditolak (refused)",
    "skipped": "dilewati (skipped)",
}
# Import rows' receipts share the intake's table, whose ids are the agency's own CloudEvents
# ids: a row's id is derived from its kind and reference, so the same row always has the same.
IMPORT_NAMESPACE: Final = uuid.UUID("6f3c1f7e-5b0e-4f5e-9a55-2b1d6c0a9e41")
_DIGITS: Final = re.compile(r"-?[0-9]{1,18}")
_ISO_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_KK: Final = re.compile(r"[0-9]{16}")
_MAX_EXACT: Final = 2**53  # above it a spreadsheet's number is no longer a whole number exactly
_ITEM_FIELDS: Final = ("description", "quantity", "unit", "unit_value_idr")


@dataclass(frozen=True, slots=True)
class RowError:
    column: str  # the machine key of the column at fault ("row" when none)
    reason: Reason


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A row's cells, read: the API's fields of the record, and how it names its household and
    its training session (resolved by the service layer)."""

    ref: str
    fields: dict[str, Any]
    kk: str | None = None
    household_id: uuid.UUID | None = None
    session_ref: str | None = None
    session_id: uuid.UUID | None = None

    @property
    def example(self) -> bool:
        return self.ref.upper().startswith(EXAMPLE_PREFIX)


@dataclass(frozen=True, slots=True)
class RowOutcome:
    status: Status
    record_id: uuid.UUID | None = None
    errors: tuple[RowError, ...] = ()
    note: Reason | None = None  # for a row not refused: what to know (e.g. what a correction did)


@dataclass(frozen=True, slots=True)
class ImportReceipt:
    """What an imported row made, and what it said then (its fingerprint)."""

    fingerprint: str | None
    intervention_type: InterventionType | None
    intervention_id: uuid.UUID | None


@dataclass(slots=True)
class Tally:
    rows: int = 0
    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(STATUS_TEXT, 0))

    def add(self, status: Status) -> None:
        self.rows += 1
        self.counts[status] += 1

    def header(self) -> str:
        """As the Gayari-Import-Summary header: an RFC 8941 dictionary of integers."""
        return ", ".join([f"rows={self.rows}", *(f"{s}={n}" for s, n in self.counts.items())])


class CellError(ValueError):
    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.en)
        self.reason = reason


def row_external_id(kind: ImportKind, ref: str) -> uuid.UUID:
    """The id of the agency's row of `kind` with reference `ref` (unique per agency: the
    receipts are keyed by (id, agency))."""
    return uuid.uuid5(IMPORT_NAMESPACE, f"{kind}/{ref}")


def _blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _integer(raw: object, source: Source) -> int:
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw.is_integer() and abs(raw) < _MAX_EXACT:
            return int(raw)
        raise CellError(cell_reason("fraction"))
    if isinstance(raw, str):
        if source == "csv" and _DIGITS.fullmatch(raw.strip()):
            return int(raw.strip())
        raise CellError(cell_reason("digits" if source == "csv" else "text-number"))
    raise CellError(cell_reason("not-number"))


def _day(raw: object) -> date | str:
    if isinstance(raw, datetime):
        if raw.time() != time(0) or raw.tzinfo is not None:
            raise CellError(cell_reason("time-of-day"))
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str) and _ISO_DAY.fullmatch(raw.strip()):
        return raw.strip()  # the request's IsoDate checks that the day exists
    raise CellError(cell_reason("number-date" if isinstance(raw, int | float) else "date"))


def _choice(column: Column, raw: object) -> str:
    value = column.choice(raw) if isinstance(raw, str) else None
    if value is None:
        raise CellError(cell_reason("choice", ", ".join(s for s, _ in column.choices)))
    return value


def read_cell(column: Column, raw: object, source: Source) -> object:
    """The cell's value as the API takes it, None when blank, or CellError saying why not."""
    if _blank(raw):
        return None
    if isinstance(raw, bool):  # before int: a bool is an int in Python
        raise CellError(cell_reason("boolean"))
    if column.kind == "integer":
        return _integer(raw, source)
    if column.kind == "date":
        return _day(raw)
    if column.kind == "choice":
        return _choice(column, raw)
    # text, notes, uuid
    if not isinstance(raw, str):
        raise CellError(cell_reason("number-text" if column.key == "kk" else "not-text"))
    return raw if column.kind == "notes" else raw.strip()


def parse_row(
    template: Template, cells: Mapping[str, object], source: Source
) -> ParsedRow | list[RowError]:
    """The row's cells read (by their machine keys; keys the template does not know are the
    agency's own columns, ignored), or every cell's error."""
    values: dict[str, object] = {}
    errors: list[RowError] = []
    for column in template.columns:
        try:
            values[column.key] = read_cell(column, cells.get(column.key), source)
        except CellError as exc:
            errors.append(RowError(column.key, exc.reason))
    ref = values.pop(ROW_REF, None)
    if ref is None and not any(e.column == ROW_REF for e in errors):
        errors.append(RowError(ROW_REF, cell_reason("missing")))
    elif isinstance(ref, str):
        try:
            _ref_model(ref)
        except ValidationError as exc:
            errors.append(RowError(ROW_REF, validation_reason(exc.errors()[0])))
    kk = values.pop("kk", None)
    household_id = values.pop("household_id", None)
    session_ref = values.pop("session_ref", None)
    session_id = values.pop("session_id", None)
    if template.for_household:
        errors += _one_of("kk", kk, "household_id", household_id)
        if isinstance(kk, str) and not _KK.fullmatch(kk):
            errors.append(RowError("kk", cell_reason("kk")))
    if "session_ref" in template.keys:
        errors += _one_of("session_ref", session_ref, "session_id", session_id)
    parsed_ids: dict[str, uuid.UUID | None] = {}
    for key, text in (("household_id", household_id), ("session_id", session_id)):
        parsed_ids[key] = None
        if isinstance(text, str):
            try:
                parsed_ids[key] = uuid.UUID(text)
            except ValueError:
                errors.append(RowError(key, cell_reason("uuid")))
    if errors:
        return errors
    assert isinstance(ref, str)
    return ParsedRow(
        ref=ref.strip(),
        fields=_fields(values),
        kk=kk if isinstance(kk, str) else None,
        household_id=parsed_ids["household_id"],
        session_ref=session_ref if isinstance(session_ref, str) else None,
        session_id=parsed_ids["session_id"],
    )


class _Ref(BaseModel):
    ref: Text64


def _ref_model(ref: str) -> _Ref:
    return _Ref(ref=ref)


def _one_of(first: str, a: object, second: str, b: object) -> list[RowError]:
    if (a is None) == (b is None):
        return [RowError(first, cell_reason("one-of", second))]
    return []


def _fields(values: dict[str, object]) -> dict[str, Any]:
    """The request's fields: blank cells left out (the API's defaults apply), an equipment
    grant's item columns as its one item line."""
    fields = {key: value for key, value in values.items() if value is not None}
    item = {f: fields.pop(f"item_{f}") for f in _ITEM_FIELDS if f"item_{f}" in fields}
    if item:
        fields["items"] = [item]
    return fields


def request_of(
    template: Template,
    row: ParsedRow,
    household_id: uuid.UUID | None,
    session_id: uuid.UUID | None,
) -> BaseModel | list[RowError]:
    """The API's request for the row, with its household and session resolved, or the errors
    of the request's own rules, each on its column."""
    body = dict(row.fields)
    if template.for_household:
        body["household_id"] = household_id
    if "session_ref" in template.keys:
        body["session_id"] = session_id
    try:
        return template.request.model_validate(body)
    except ValidationError as exc:
        return [
            RowError(column_of(template, row, e["loc"]), validation_reason(e)) for e in exc.errors()
        ]


def column_of(template: Template, row: ParsedRow, loc: tuple[int | str, ...] | str | None) -> str:
    """The column a request's field (`loc`, as pydantic or a rule names it) was read from."""
    parts = loc.split(".") if isinstance(loc, str) else list(loc or ())
    if not parts:
        return "row"
    name = str(parts[0])
    if name == "items":
        part = str(parts[2]) if len(parts) > 2 else "description"
        return f"item_{part}"
    if name == "household_id":
        return "kk" if row.kk is not None else "household_id"
    if name == "session_id":
        return "session_ref" if row.session_ref is not None else "session_id"
    return name if name in template.keys else "row"


def fingerprint(kind: ImportKind, request: BaseModel) -> str:
    """What the row asks for, as compared with what it asked for when first sent: the request
    itself (a KK and the household id it resolves to ask for the same)."""
    text = json.dumps(
        [kind, request.model_dump(mode="json")], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Header:
    """Where a file's columns are: the machine key of each (by position, "" for none) and the
    row of labels above the keys, if the file has one."""

    keys: tuple[str, ...]
    labels: tuple[object, ...] | None

    @property
    def rows(self) -> int:
        return 1 if self.labels is None else 2

    def cells(self, values: Sequence[object]) -> dict[str, object]:
        return {key: value for key, value in zip(self.keys, values, strict=False) if key}


def _keys(values: Sequence[object]) -> tuple[str, ...]:
    return tuple(v.strip().lower() if isinstance(v, str) else "" for v in values)


def holds_keys(values: Sequence[object]) -> bool:
    """Whether a header row is the row of machine keys (it names the row reference)."""
    return ROW_REF in _keys(values)


def find_header(
    template: Template, first: Sequence[object], second: Sequence[object] | None
) -> Header | list[str]:
    """The file's header: the keys on its first row (a file made by a program), or labels on
    the first and keys on the second (the template's layout); else the columns it lacks."""
    if holds_keys(first):
        header = Header(_keys(first), None)
    elif second is not None and holds_keys(second):
        header = Header(_keys(second), tuple(first))
    else:
        return [ROW_REF]
    present = set(header.keys)
    missing = [
        c.key
        for c in template.columns
        if c.required and c.key not in present and c.key not in _EITHER
    ]
    for a, b in (("kk", "household_id"), ("session_ref", "session_id")):
        if a in template.keys and a not in present and b not in present:
            missing.append(f"{a} or {b}")
    return missing or header


_EITHER: Final = frozenset({"kk", "household_id", "session_ref", "session_id"})
