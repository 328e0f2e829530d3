"""The query parameters of each reporting view, as pydantic models: FastAPI declares them in
the OpenAPI document and checks their form (a 422 problem naming the parameter); what they
name (a configured agency, an area Kemendagri has, a cursor of this list, a snapshot that
exists) is checked by `domain.filters.parse_filters`, which also refuses a parameter given twice.

A view's model is the one list of its parameters: `names()` is what parse_filters allows."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from gayari_reporting.domain.areas import CODE_PATTERN
from gayari_reporting.domain.filters import MAX_LIMIT, MONTH, SNAPSHOT_NAME, encode_cursor

EXAMPLE_HOUSEHOLD = "6f1c4e0e-7d3a-4b8e-9c51-2a1f0b9d3e71"
AREA_DOC = "Any Kemendagri code: a province (62), regency (62.09), district or village"


class QueryParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(cls.model_fields)


class NoParameters(QueryParameters):
    """A view that takes no query parameter."""


class AreaScope(QueryParameters):
    area: str | None = Field(
        default=None, pattern=CODE_PATTERN.pattern, description=AREA_DOC, examples=["62.09"]
    )
    district: str | None = Field(
        default=None,
        pattern=r"^\d{2}\.\d{2}\.\d{2}$",
        description="A Kemendagri district (kecamatan) code",
        examples=["62.09.03"],
    )
    village: str | None = Field(
        default=None,
        pattern=r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$",
        description="A Kemendagri village (desa) code",
        examples=["62.09.03.2001"],
    )


class Snapshot(QueryParameters):
    snapshot: str | None = Field(
        default=None,
        pattern=SNAPSHOT_NAME.pattern,
        description="A finished as-of report to read instead of the live figures "
        "(its name, from /generations)",
        examples=["rm_asof_20261231"],
    )


class AgencyParameter(QueryParameters):
    agency: str | None = Field(
        default=None,
        description="An agency's code, one of those configured (e.g. dinsos)",
        examples=["dinsos"],
    )


class FiscalYear(QueryParameters):
    fiscal_year: int | None = Field(
        default=None,
        ge=2000,
        le=2100,
        description="A fiscal year (the calendar year): a grant's own, else the year of its day; "
        "a household's registration, enrolment or exit by its day. Days in the zone of the "
        "household's province (WIB, WITA, WIT)",
        examples=[2026],
    )


class Month(QueryParameters):
    month: str | None = Field(
        default=None,
        pattern=MONTH.pattern,
        description="A calendar month, YYYY-MM, of each household's days in the zone of its "
        "province (Lamandau: WIB)",
        examples=["2026-03"],
    )


class Page(QueryParameters):
    limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_LIMIT,
        description="Rows of the page (default 1000)",
        examples=[100],
    )


class ViewParameters(Snapshot, Month, FiscalYear, AgencyParameter, AreaScope):
    """The filters of the figure views: summary, agencies, timeseries, convergence."""


class AreaParameters(Snapshot, Month, FiscalYear, AgencyParameter):
    """An area's report: the area is in the path."""


class AreaExportParameters(AreaParameters):
    area: str | None = Field(
        default=None,
        pattern=CODE_PATTERN.pattern,
        description=AREA_DOC + "; the country without one",
        examples=["62.09"],
    )


class UnservedExportParameters(Snapshot, AgencyParameter, AreaScope):
    days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Days without contact (default: the service's setting, 90)",
        examples=[90],
    )
    as_of: date | None = Field(
        default=None,
        description="The day counted from (default: today in the zone of the area asked, "
        "WIB without one)",
        examples=["2026-06-30"],
    )


class UnservedParameters(Page, UnservedExportParameters):
    after: str | None = Field(
        default=None,
        max_length=512,
        description="The `next` of the page before: rows after it",
        examples=[encode_cursor(("62.09.03.2001", "2026-03-01", EXAMPLE_HOUSEHOLD))],
    )


class DoubleFundingExportParameters(Snapshot, FiscalYear, AgencyParameter, AreaScope):
    pass


class DoubleFundingParameters(Page, DoubleFundingExportParameters):
    after: str | None = Field(
        default=None,
        max_length=512,
        description="The `next` of the page before: rows after it",
        examples=[encode_cursor((2026, "62.09.03.2001", EXAMPLE_HOUSEHOLD, "capital"))],
    )


class OutcomeParameters(Snapshot, AreaScope):
    pass


class PublicParameters(QueryParameters):
    area: str | None = Field(
        default=None,
        pattern=CODE_PATTERN.pattern,
        description=AREA_DOC + "; the whole country without one",
        examples=["62.09"],
    )
