"""The monthly report's figures: a month and its fiscal year, read from the live read models or
an as-of report through the same use cases as the JSON endpoints, so that the printed report
never disagrees with them."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import date, datetime, timedelta

from gayari_reporting.domain.areas import Area, parent_code
from gayari_reporting.domain.calendar import zone_of
from gayari_reporting.domain.filters import Filters, month_end
from gayari_reporting.domain.readmodels import (
    AgencyFigures,
    AreaFigures,
    Convergence,
    DataQuality,
    Outcomes,
    Summary,
)
from gayari_reporting.service_layer import reports
from gayari_reporting.service_layer.reports import ReportingDeps


@dataclasses.dataclass(frozen=True, slots=True)
class AlertCount:
    child: str  # the code of the area's child holding the households ("" if not known)
    kind: str
    alerts: int
    idr: int


@dataclasses.dataclass(frozen=True, slots=True)
class MonthlyFigures:
    area: Area
    month: date  # its first day
    snapshot: str | None
    summary_month: Summary
    summary_year: Summary
    agencies: list[tuple[AgencyFigures, AgencyFigures]]  # (the month's, the year's)
    children: list[tuple[AreaFigures, AreaFigures]]
    totals: tuple[AreaFigures, AreaFigures]
    convergence: Convergence
    unserved_as_of: date
    unserved_days: int
    unserved_total: int
    unserved_by_child: dict[str, int]
    alerts: list[AlertCount]
    outcomes: Outcomes
    quality: DataQuality


def child_of(area: Area, village: str | None) -> str:
    """The code of `area`'s child holding the village ("" if not known)."""
    if not village:
        return ""
    code = village
    while code and parent_code(code) != area.code:
        code = parent_code(code)
    return code


async def monthly_figures(deps: ReportingDeps, filters: Filters, area: Area) -> MonthlyFigures:
    """`filters`: the month, the area and the snapshot of the request."""
    assert filters.month is not None
    first = filters.month
    base = dataclasses.replace(filters, month=None, fiscal_year=None)
    in_month = dataclasses.replace(base, month=first)
    in_year = dataclasses.replace(base, fiscal_year=first.year)
    # Unserved as of the month's last day, or today (in the area's zone) for the month under way.
    today = datetime.now(zone_of(area.code or None)).date()
    last_day = min(month_end(first) - timedelta(days=1), today)

    agencies_month = {a.agency: a for a in (await reports.agencies(deps, in_month)).agencies}
    agencies_year = (await reports.agencies(deps, in_year)).agencies
    # An area's report is scoped by the area itself, not by area filters.
    scoped = dataclasses.replace(base, areas=())
    children_month = await reports.area_report(deps, area, dataclasses.replace(scoped, month=first))
    children_year = await reports.area_report(
        deps, area, dataclasses.replace(scoped, fiscal_year=first.year)
    )
    unserved = await reports.unserved(deps, dataclasses.replace(base, as_of=last_day), None)
    unserved_by: Counter[str] = Counter()
    for village in unserved.villages:
        unserved_by[child_of(area, village.village_code)] += len(village.households)
    alerts: dict[tuple[str, str], tuple[int, int]] = {}
    for alert in (await reports.double_funding(deps, in_year, None)).alerts:
        key = (child_of(area, alert.village_code), alert.kind)
        count, idr = alerts.get(key, (0, 0))
        alerts[key] = (count + 1, idr + alert.total_idr)
    return MonthlyFigures(
        area=area,
        month=first,
        snapshot=filters.snapshot,
        summary_month=await reports.summary(deps, in_month),
        summary_year=await reports.summary(deps, in_year),
        agencies=[(agencies_month[a.agency], a) for a in agencies_year],
        children=list(zip(children_month.children, children_year.children, strict=True)),
        totals=(children_month.area, children_year.area),
        convergence=await reports.convergence_report(deps, in_year),
        unserved_as_of=last_day,
        unserved_days=unserved.days,
        unserved_total=unserved.households,
        unserved_by_child=dict(sorted(unserved_by.items())),
        alerts=[AlertCount(c, k, n, idr) for (c, k), (n, idr) in sorted(alerts.items())],
        outcomes=await reports.outcomes(deps, base),
        quality=await reports.data_quality(deps),
    )
