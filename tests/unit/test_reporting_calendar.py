"""A time series keeps the calendar: a month with nothing in it is a row of zeros."""

from __future__ import annotations

from gayari_reporting.domain.calendar import every_month, months_between
from gayari_reporting.domain.readmodels import MonthFigures


def test_months_between_crosses_the_year() -> None:
    assert list(months_between("2025-11", "2026-02")) == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]
    assert list(months_between("2026-03", "2026-03")) == ["2026-03"]
    assert list(months_between("2026-03", "2026-02")) == []


def test_a_month_with_nothing_is_zero_not_skipped() -> None:
    filled = every_month(
        [MonthFigures(month="2026-10", grants=3), MonthFigures(month="2025-11", grants=1)]
    )
    assert [m.month for m in filled] == [
        "2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05",
        "2026-06", "2026-07", "2026-08", "2026-09", "2026-10",
    ]  # fmt: skip
    assert [m.grants for m in filled] == [1] + [0] * 10 + [3]
    assert filled[5] == MonthFigures(month="2026-04")
    assert every_month([]) == []
