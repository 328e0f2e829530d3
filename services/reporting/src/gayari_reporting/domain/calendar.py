"""The calendar a time series keeps: every month between its first and its last, a month with
nothing in it shown as zeros rather than skipped (so 2025-11 never sits next to 2026-10 as if
they were neighbours)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gayari_reporting.domain.readmodels import MonthFigures


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
