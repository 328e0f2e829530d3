"""The monthly report for the regent's office, `GET /reports/monthly?month=YYYY-MM`: one
printable HTML page (Bahasa Indonesia, one or two A4 pages, print CSS) of the figures
service_layer/monthly_report.py assembles, rendered from templates/monthly_report.html."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import Field

from gayari_reporting.domain.areas import CHILD, Area, Level
from gayari_reporting.domain.filters import MONTH
from gayari_reporting.entrypoints.parameters import AREA_DOC, Snapshot
from gayari_reporting.entrypoints.requests import deps_of, filters_of
from gayari_reporting.service_layer import reports
from gayari_reporting.service_layer.monthly_report import MonthlyFigures, monthly_figures
from gayari_reporting.service_layer.reports import ReportingDeps
from gayari_shared.events.interventions import JAKARTA

MONTHS: Final = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)  # fmt: skip
LEVEL_NAMES: Final[dict[Level, str]] = {
    "country": "Indonesia",
    "province": "Provinsi",
    "regency": "Kabupaten",
    "district": "Kecamatan",
    "village": "Desa",
}
NONE: Final = "\N{EN DASH}"  # a figure that does not exist (no budget: no realisation)
KIND_NAMES: Final = {"capital": "Bantuan modal", "equipment": "Bantuan peralatan"}
EXIT_NAMES: Final = {
    "graduated": "lulus (mandiri)",
    "moved": "pindah",
    "deceased": "meninggal",
    "ineligible": "tidak memenuhi syarat",
}
# The intake's dead-letter reason codes; an unknown one is shown by its code alone.
# The same words as the dashboard's data-quality panel (static/dashboard.html), which a unit
# test holds this table to: a reader should meet one name for one reason.
REASON_NAMES: Final = {
    "invalid-data": "data tidak sah (nilai atau kolom salah)",
    "rule-violation": "melanggar aturan program",
    "household-not-known-yet": "rumah tangga belum dikenal",
    "invalid-cloudevent": "format pesan tidak sah",
    "unknown-type": "jenis catatan tidak dikenal",
    "agency-mismatch": "OPD tidak sesuai dengan jalur masuk",
    "subject-mismatch": "subjek pesan tidak sesuai dengan rumah tangga",
    "forbidden": "tidak berwenang",
    "not-found": "catatan yang dirujuk tidak ditemukan",
    "conflict": "bertentangan dengan catatan yang ada",
}
OTHER_REASON: Final = "alasan lain"


class MonthlyReportParameters(Snapshot):
    month: str = Field(
        pattern=MONTH.pattern,
        description="The month reported, YYYY-MM (each household's days in its province's "
        "zone); its fiscal year is the year's columns",
        examples=["2026-03"],
    )
    area: str | None = Field(
        default=None,
        pattern=r"^\d{2}(?:\.\d{2}(?:\.\d{2}(?:\.\d{4})?)?)?$",
        description=AREA_DOC + "; the whole country without one",
        examples=["62.09"],
    )


def number(value: float | None, digits: int = 0) -> str:
    """id-ID: `.` between thousands, `,` before decimals."""
    if value is None:
        return NONE
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def rupiah(value: int | None) -> str:
    return NONE if value is None else "Rp " + number(value)


def millions(value: int | None) -> str:
    """Rupiah in millions (juta), as budget tables are printed: 1.004,5 for Rp 1.004.500.000."""
    return NONE if value is None else number(value / 1_000_000, 1)


def percent(value: float | None) -> str:
    return NONE if value is None else number(value, 1) + " %"


def day_name(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def wib(moment: datetime | None) -> str:
    if moment is None:
        return "belum diketahui"
    local = moment.astimezone(JAKARTA)
    return f"{day_name(local.date())} pukul {local:%H.%M} WIB"


_TEMPLATES: Final = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATES.filters.update(number=number, rupiah=rupiah, millions=millions, percent=percent)


@dataclasses.dataclass(frozen=True, slots=True)
class Place:
    code: str
    name: str


def page_of(figures: MonthlyFigures, deps: ReportingDeps) -> dict[str, Any]:
    """What the template shows: the figures with their names and labels in Bahasa Indonesia."""
    area, first = figures.area, figures.month
    names = {c.code: c.name for _, c in figures.children}

    def place(code: str) -> Place:
        return Place(code, names.get(code, code or "tidak diketahui"))

    child_level = CHILD[area.level]
    return {
        "area": area,
        "area_title": title_of(area),
        "child_label": LEVEL_NAMES[child_level] if child_level else "Wilayah",
        "month_name": f"{MONTHS[first.month - 1]} {first.year}",
        "year": first.year,
        "snapshot": figures.snapshot,
        "as_of": wib(figures.summary_year.as_of),
        "printed": wib(datetime.now(JAKARTA)),
        "unserved_as_of": day_name(figures.unserved_as_of),
        "summary": {"month": figures.summary_month, "year": figures.summary_year},
        "agencies": figures.agencies,
        "children": figures.children,
        "totals": figures.totals,
        "convergence": figures.convergence,
        "unserved_days": figures.unserved_days,
        "unserved_total": figures.unserved_total,
        "unserved_by": [(place(code), n) for code, n in figures.unserved_by_child.items()],
        "alerts_total": sum(a.alerts for a in figures.alerts),
        "alerts_by": [
            (place(a.child), KIND_NAMES.get(a.kind, a.kind), a.alerts, a.idr)
            for a in figures.alerts
        ],
        "outcomes": figures.outcomes,
        "exits": [
            (EXIT_NAMES.get(k, k), n) for k, n in sorted(figures.outcomes.exits_by_reason.items())
        ],
        "quality": figures.quality,
        "reasons": REASON_NAMES,
        "other_reason": OTHER_REASON,
        "agency_names": {a.code: a.name for a in deps.agencies},
    }


def title_of(area: Area) -> str:
    """Kemendagri names regencies "Kabupaten ..." or "Kota ...", not districts or villages."""
    level = LEVEL_NAMES[area.level]
    if area.level in ("country", "regency") or area.name.lower().startswith(level.lower()):
        return area.name
    return f"{level} {area.name}"


def monthly_report_routes(router: APIRouter) -> None:
    @router.get(
        "/reports/monthly",
        operation_id="getMonthlyReport",
        response_class=HTMLResponse,
        responses={200: {"content": {"text/html": {}}, "description": "The printable report"}},
        description="The monthly report for the regent's office: a printable HTML page in "
        "Bahasa Indonesia (one or two A4 pages) with the month's and its fiscal year's figures "
        "per agency and per district, convergence, unserved households by district, "
        "double-funding alerts, outcomes, budget realisation and data quality. Any month, "
        "from the live read models or from a finished as-of report (`snapshot`).",
    )
    async def get_monthly_report(
        request: Request, parameters: Annotated[MonthlyReportParameters, Query()]
    ) -> HTMLResponse:
        deps = deps_of(request)
        filters = filters_of(request, parameters.names())
        area = reports.area_named(deps, filters.areas[0] if filters.areas else "", "query", "area")
        figures = await monthly_figures(deps, filters, area)
        page = _TEMPLATES.get_template("monthly_report.html").render(**page_of(figures, deps))
        return HTMLResponse(page)
