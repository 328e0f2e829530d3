"""The calendar of the reports: a time series keeps every month between its first and its last,
a month with nothing in it shown as zeros rather than skipped (so 2025-11 never sits next to
2026-10 as if they were neighbours); a household's days are those of its province's zone."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Final
from zoneinfo import ZoneInfo

from gayari_reporting.domain.readmodels import MonthFigures
from gayari_shared.areas.zones import PROVINCE_ZONES, ZONES, Zone

# Where no province is known (a record before its household's registration): Lamandau's.
DEFAULT_ZONE: Final[Zone] = "WIB"


def months_between(first: str, last: str) -> Iterator[str]:
    """Every YYYY-MM from `first` to `last`, both included (none if `last` is before)."""
    year, month = int(first[:4]), int(first[5:7])
    end = (int(last[:4]), int(last[5:7]))
    while (year, month) <= end:
        yield f"{year:04d}-{month:02d}"
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def every_month(months: Iterable[MonthFigures]) -> list[MonthFigures]:
    """The months in calendar order, the missing ones between them filled with zeros."""
    by_month = {m.month: m for m in months}
    if not by_month:
        return []
    return [
        by_month.get(month) or MonthFigures(month=month)
        for month in months_between(min(by_month), max(by_month))
    ]


def zone_of(code: str | None) -> ZoneInfo:
    """The zone of an area's province (gayari_shared.areas.zones), Lamandau's (WIB) where the
    code is unknown or names no province: what the read models' SQL function `area_zone` gives
    (adapters/zone_sql.py)."""
    return ZONES[PROVINCE_ZONES.get((code or "")[:2], DEFAULT_ZONE)]


def zone_of_areas(areas: Sequence[str]) -> ZoneInfo:
    """The zone of the areas a report asks for: the deepest one's (areas that nest share it),
    Lamandau's with none. Where "today" is, for a report's default `as_of` and month."""
    return zone_of(max(areas, key=len) if areas else None)
