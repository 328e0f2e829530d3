"""Query parameters of the read models, checked before any SQL runs.

Every view names the parameters it takes; anything else, or a value that does not name a real
thing (an area code Kemendagri does not have, an agency that is not configured), is refused with
the parameter's name so the caller can fix it. Silently ignoring a misspelt filter would return
the unfiltered figure, which reads as a right answer to the wrong question.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from gayari_reporting.domain.areas import AreaIndex, Level, level_of

# Digits 0-9 only: Python's \d (and int()) would also take other scripts' digits.
MONTH: Final = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
DAY: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# The years a month or a day may name: those of the fiscal years, so that no date arithmetic
# (a month's end, a cut-off days before a day) leaves the calendar.
YEARS: Final = range(2000, 2101)

AREA_FILTERS: Final = frozenset({"area", "district", "village"})
TIME_FILTERS: Final = frozenset({"fiscal_year", "month"})
# A finished "as of" read-model generation to read instead of the live one (a period report).
SNAPSHOT: Final = "snapshot"
SNAPSHOT_NAME: Final = re.compile(r"^rm_asof_[0-9a-f_]{1,40}$")
ALL_FILTERS: Final = AREA_FILTERS | TIME_FILTERS | {"agency", SNAPSHOT}
# A long list a page at a time: at most `limit` rows, those after the cursor `after` (the `next`
# of the page before). A cursor names the last row's key, so a page never repeats or skips a row
# because rows were added or removed before it.
PAGE_FILTERS: Final = frozenset({"limit", "after"})
MAX_LIMIT: Final = 10_000
Cursor = tuple[str | int | None, ...]

_AREA_LEVELS: Final[dict[str, tuple[Level, ...]]] = {
    "area": ("province", "regency", "district", "village"),
    "district": ("district",),
    "village": ("village",),
}


@dataclass(frozen=True, slots=True)
class Filters:
    agency: str | None = None
    # Every code must contain the household's village; several can be given (district + village).
    areas: tuple[str, ...] = ()
    fiscal_year: int | None = None
    month: date | None = None  # the first day of the month
    days: int | None = None
    as_of: date | None = None
    snapshot: str | None = None
    limit: int | None = None
    after: Cursor | None = None

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "agency": self.agency,
            "areas": ",".join(self.areas) or None,
            "fiscal_year": self.fiscal_year,
            "month": self.month.strftime("%Y-%m") if self.month else None,
            **({SNAPSHOT: self.snapshot} if self.snapshot else {}),
        }


@dataclass(frozen=True, slots=True)
class ParameterError:
    parameter: str
    message: str


@dataclass
class InvalidQueryError(Exception):
    errors: list[ParameterError] = field(default_factory=list)
    place: str = "query"  # where the parameters were: "query" or "path"

    def __str__(self) -> str:
        return "; ".join(f"{e.parameter}: {e.message}" for e in self.errors)


def month_end(first: date) -> date:
    """The first day of the month after."""
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def parse_filters(
    params: Sequence[tuple[str, str]],
    allowed: Collection[str],
    *,
    agencies: Collection[str],
    areas: AreaIndex,
    max_days: int = 3650,
) -> Filters:
    """The filters of a query string; InvalidQueryError names every bad parameter at once."""
    errors: list[ParameterError] = []
    values: dict[str, str] = {}
    for name, value in params:
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            errors.append(ParameterError(name, f"unknown parameter (this view takes: {known})"))
        elif name in values:
            errors.append(ParameterError(name, "given more than once"))
        else:
            values[name] = value

    agency = _agency(values, agencies, errors)
    codes = _areas(values, areas, errors)
    fiscal_year = _integer(values, "fiscal_year", 2000, 2100, errors)
    days = _integer(values, "days", 1, max_days, errors)

    month = _month(values, errors)
    as_of = _as_of(values, errors)

    limit = _integer(values, "limit", 1, MAX_LIMIT, errors)
    after = _cursor(values, errors)

    snapshot = values.get(SNAPSHOT)
    if snapshot is not None and not SNAPSHOT_NAME.match(snapshot):
        errors.append(ParameterError(SNAPSHOT, "not the name of an as-of report (rm_asof_...)"))

    if errors:
        raise InvalidQueryError(errors)
    return Filters(agency, tuple(codes), fiscal_year, month, days, as_of, snapshot, limit, after)


def encode_cursor(key: Cursor) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor | None:
    """The key a cursor names, or None if it is not one (its shape is the list's to check)."""
    if len(text) > 512:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are these
        return None
    if not isinstance(key, list) or not all(
        v is None or (isinstance(v, str | int) and not isinstance(v, bool)) for v in key
    ):
        return None
    return tuple(key)


def _month(values: dict[str, str], errors: list[ParameterError]) -> date | None:
    if "month" not in values:
        return None
    matched = MONTH.match(values["month"])
    if matched is None or int(matched[1]) not in YEARS:
        errors.append(ParameterError("month", "expected YYYY-MM, a month of 2000 to 2100"))
        return None
    return date(int(matched[1]), int(matched[2]), 1)


def _as_of(values: dict[str, str], errors: list[ParameterError]) -> date | None:
    if "as_of" not in values:
        return None
    try:
        if not DAY.match(values["as_of"]):
            raise ValueError
        as_of = date.fromisoformat(values["as_of"])
    except ValueError:
        as_of = None
    if as_of is None or as_of.year not in YEARS:
        errors.append(ParameterError("as_of", "expected a date YYYY-MM-DD of 2000 to 2100"))
        return None
    return as_of


def _cursor(values: dict[str, str], errors: list[ParameterError]) -> Cursor | None:
    if "after" not in values:
        return None
    after = decode_cursor(values["after"])
    if after is None:
        errors.append(ParameterError("after", "not a cursor (the `next` of a page)"))
    return after


def _agency(
    values: dict[str, str], agencies: Collection[str], errors: list[ParameterError]
) -> str | None:
    agency = values.get("agency")
    if agency is not None and agency not in agencies:
        known = ", ".join(sorted(agencies))
        errors.append(ParameterError("agency", f"unknown agency (known: {known})"))
        return None
    return agency


def _areas(values: dict[str, str], areas: AreaIndex, errors: list[ParameterError]) -> list[str]:
    codes: list[str] = []
    for name in ("area", "district", "village"):
        if name in values:
            code = values[name]
            level = level_of(code)
            if level not in _AREA_LEVELS[name]:
                errors.append(ParameterError(name, f"not a Kemendagri {name} code"))
            elif areas.get(code) is None:
                errors.append(ParameterError(name, f"no {level} has the code {code}"))
            else:
                codes.append(code)
    return codes


def _integer(
    values: dict[str, str], name: str, low: int, high: int, errors: list[ParameterError]
) -> int | None:
    if name not in values:
        return None
    text = values[name]
    if not re.fullmatch(r"[0-9]{1,6}", text) or not low <= int(text) <= high:
        errors.append(ParameterError(name, f"expected a whole number from {low} to {high}"))
        return None
    return int(text)
