"""Every read model as a flat table, for CSV and XLSX exports. Pure.

A column's kind follows its name and type, so every view's export is made the same way and a
new field shows up in exports without more code: `*_idr` and `idr_*` are Rupiah, `*_percent` a
percentage, whole numbers are counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel

ColumnKind = Literal["text", "count", "idr", "percent", "date"]
Cell = str | int | float | date | None


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: ColumnKind


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    columns: list[Column]
    rows: list[list[Cell]]


def kind_of(name: str, value: object) -> ColumnKind:
    if name.endswith("_idr") or name.startswith("idr_"):
        return "idr"
    if name.endswith("_percent"):
        return "percent"
    if isinstance(value, bool):
        return "text"
    if isinstance(value, int):
        return "count"
    if isinstance(value, date):
        return "date"
    return "text"


def _cell(value: object) -> Cell:
    if value is None or isinstance(value, str | int | float | date):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def table_of(
    title: str,
    rows: Sequence[BaseModel],
    *,
    exclude: frozenset[str] = frozenset(),
    columns: list[Column] | None = None,
) -> Table:
    """Columns in the models' field order; nested objects (dicts) are left out. Given
    `columns` (a page of a longer list: every page the same), those."""
    dumped = [{k: v for k, v in r.model_dump().items() if k not in exclude} for r in rows]
    if columns is None:
        names = [n for n, v in (dumped[0].items() if dumped else ()) if not isinstance(v, dict)]
        columns = []
        for name in names:
            sample = next((d[name] for d in dumped if d[name] is not None), None)
            columns.append(Column(name, kind_of(name, sample)))
    return Table(title, columns, [[_cell(d[c.name]) for c in columns] for d in dumped])


def empty_table(title: str, model: type[BaseModel]) -> Table:
    """A table with the model's columns and no rows (their kinds by name only)."""
    return Table(title, [Column(n, kind_of(n, None)) for n in model.model_fields], [])


def households_of(table: Table) -> list[uuid.UUID]:
    """The households a table lists (its `household_id` column), for the audit trail: an export
    naming households is a read of their data."""
    at = next((i for i, c in enumerate(table.columns) if c.name == "household_id"), None)
    if at is None:
        return []
    return [uuid.UUID(str(row[at])) for row in table.rows if row[at] is not None]
