"""The read models' shapes, as served in JSON, and the arithmetic done on their figures. Pure.

Figures are whole numbers of households, records or Rupiah; shares are percentages rounded to
two decimals, and None where their denominator is zero (a share of nothing is not 0 %).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Final

from pydantic import BaseModel, Field

from gayari_reporting.domain.areas import Area, Level
from gayari_shared.agencies import Agency

# Interventions by kind: what an agency gives a household. Surveys measure, they do not serve.
KINDS: Final = ("grant-capital", "grant-equipment", "training", "mentoring")


def percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 2)


class HouseholdCounts(BaseModel):
    registered: int = 0
    enrolled: int = 0
    exited: int = 0
    graduated: int = 0
    reached: int = Field(0, description="Households with at least one intervention (not voided)")


class Summary(BaseModel):
    filters: dict[str, str | int | None]
    households: HouseholdCounts
    interventions: dict[str, int] = Field(description="Records by kind, voided ones left out")
    idr_disbursed: int
    trainings_completed: int
    as_of: datetime | None


class AgencyFigures(BaseModel):
    agency: str
    name: str
    households_reached: int = 0
    grants_capital: int = 0
    grants_equipment: int = 0
    idr_disbursed: int = 0
    trainings_completed: int = 0
    mentoring_visits: int = 0
    budget_allocated_idr: int = 0
    realisation_percent: float | None = Field(
        None, description="IDR disbursed against the allocation of the same fiscal years"
    )


class Agencies(BaseModel):
    filters: dict[str, str | int | None]
    agencies: list[AgencyFigures]


def agency_rows(
    configured: Mapping[str, str], figures: Mapping[str, AgencyFigures], budgets: Mapping[str, int]
) -> list[AgencyFigures]:
    """Every configured agency, zeros included, then any other agency seen in the events."""
    codes = list(configured) + sorted((figures.keys() | budgets.keys()) - configured.keys())
    rows = []
    for code in codes:
        row = figures.get(code, AgencyFigures(agency=code, name=code))
        allocated = budgets.get(code, 0)
        rows.append(
            row.model_copy(
                update={
                    "name": configured.get(code, code),
                    "budget_allocated_idr": allocated,
                    "realisation_percent": percent(row.idr_disbursed, allocated),
                }
            )
        )
    return rows


class AreaFigures(BaseModel):
    code: str
    name: str
    level: Level
    households_registered: int = 0
    households_enrolled: int = 0
    households_exited: int = 0
    households_graduated: int = 0
    households_reached: int = 0
    interventions: int = 0
    idr_disbursed: int = 0
    trainings_completed: int = 0


_ADDITIVE: Final = (
    "households_registered",
    "households_enrolled",
    "households_exited",
    "households_graduated",
    "households_reached",
    "interventions",
    "idr_disbursed",
    "trainings_completed",
)


class AreaReport(BaseModel):
    filters: dict[str, str | int | None]
    area: AreaFigures
    children: list[AreaFigures]


def roll_up(area: Area, children: Iterable[Area], by_code: Mapping[str, AreaFigures]) -> AreaReport:
    """The area's figures are its children's added up: every household lies in exactly one
    child (its current village's), so even distinct-household counts add up."""
    kids = [
        by_code.get(c.code, AreaFigures(code=c.code, name=c.name, level=c.level)).model_copy(
            update={"name": c.name, "level": c.level}
        )
        for c in children
    ]
    own = AreaFigures(code=area.code, name=area.name, level=area.level)
    pool = kids if kids else [by_code.get(area.code, own)]
    totals = {name: sum(getattr(k, name) for k in pool) for name in _ADDITIVE}
    return AreaReport(filters={}, area=own.model_copy(update=totals), children=kids)


class MonthFigures(BaseModel):
    month: str
    households_registered: int = 0
    households_enrolled: int = 0
    households_exited: int = 0
    households_graduated: int = 0
    households_reached: int = 0
    grants: int = 0
    idr_disbursed: int = 0
    trainings_completed: int = 0
    mentoring_visits: int = 0


class TimeSeries(BaseModel):
    filters: dict[str, str | int | None]
    months: list[MonthFigures]


class CaseEntry(BaseModel):
    on: date
    record_type: str
    record_id: uuid.UUID
    agency: str
    kind: str
    amount_idr: int | None = None
    details: dict[str, str | int | None] = {}


class CaseHousehold(BaseModel):
    registered: bool
    village_code: str | None
    village_name: str | None
    welfare_decile: int | None
    initial_welfare_decile: int | None
    enrolled_on: date | None
    cohort_year: int | None
    exited_on: date | None
    exit_reason: str | None


class Case(BaseModel):
    household_id: uuid.UUID
    household: CaseHousehold | None = Field(
        description="Its state; null while its records wait for the household's registration"
    )
    agencies: list[str]
    entries: list[CaseEntry]


class ReachedBy(BaseModel):
    agencies: int
    households: int


class Convergence(BaseModel):
    filters: dict[str, str | int | None]
    reached_by: list[ReachedBy] = Field(description="Households by the number of agencies")
    households_reached: int
    enrolled_households: int
    enrolled_reached_by_two_or_more: int
    collaboration_percent: float | None = Field(
        description="Share of enrolled households reached by two or more agencies"
    )


def convergence(
    filters: dict[str, str | int | None],
    reached: Mapping[int, int],
    enrolled_reached: Mapping[int, int],
    enrolled: int,
    agencies: int,
) -> Convergence:
    """Buckets 1..max(agencies, most seen), so a fifth agency's households get a bucket."""
    top = max([agencies, *reached.keys()])
    two_plus = sum(n for k, n in enrolled_reached.items() if k >= 2)
    return Convergence(
        filters=filters,
        reached_by=[ReachedBy(agencies=k, households=reached.get(k, 0)) for k in range(1, top + 1)],
        households_reached=sum(reached.values()),
        enrolled_households=enrolled,
        enrolled_reached_by_two_or_more=two_plus,
        collaboration_percent=percent(two_plus, enrolled),
    )


class UnservedHousehold(BaseModel):
    household_id: uuid.UUID
    last_contact: date = Field(description="Its latest intervention, or its enrolment if none")
    days_without: int


# The order of the unserved households, and the key a page's cursor names: village ('' where
# not known, first), last contact, household.
UnservedKey = tuple[str, date, uuid.UUID]


class UnservedVillage(BaseModel):
    village_code: str | None
    village_name: str | None
    district_code: str | None
    district_name: str | None
    households: list[UnservedHousehold]


class Unserved(BaseModel):
    filters: dict[str, str | int | None]
    days: int
    as_of: date
    households: int = Field(description="Unserved households on every page")
    villages: list[UnservedVillage] = Field(
        description="A page of them by village, then the longest without contact first"
    )
    next: str | None = Field(
        description="The cursor of the next page (pass it as `after`); null on the last page"
    )


class DoubleFundingAlert(BaseModel):
    household_id: uuid.UUID
    village_code: str | None
    village_name: str | None = Field(None, description="The village's Kemendagri name")
    fiscal_year: int
    kind: str
    agencies: list[str]
    grants: int
    total_idr: int
    grant_ids: list[uuid.UUID]


# The order of the double-funding alerts, and the key a page's cursor names: fiscal year,
# village ('' where not known: a household not registered sorts first), household, kind.
AlertKey = tuple[int, str, uuid.UUID, str]


class DoubleFunding(BaseModel):
    filters: dict[str, str | int | None]
    total: int = Field(description="Alerts matching the filters, on every page")
    alerts: list[DoubleFundingAlert] = Field(
        description="A page of them: by fiscal year, village, household and kind"
    )
    next: str | None = Field(
        description="The cursor of the next page (pass it as `after`); null on the last page"
    )


class IncomeChange(BaseModel):
    households_surveyed_twice: int
    mean_first_income_idr: int | None
    mean_latest_income_idr: int | None
    mean_change_idr: int | None
    median_change_idr: int | None
    households_up: int
    households_down: int
    households_unchanged: int


class DecileMove(BaseModel):
    from_decile: int
    to_decile: int
    households: int


class DecileMovement(BaseModel):
    improved: int
    unchanged: int
    worsened: int
    moves: list[DecileMove]


class Outcomes(BaseModel):
    filters: dict[str, str | int | None]
    enrolled: int
    graduated: int
    exits_by_reason: dict[str, int]
    graduation_rate_percent: float | None = Field(description="Graduated over enrolled")
    income: IncomeChange
    deciles: DecileMovement


def decile_movement(moves: Iterable[DecileMove]) -> DecileMovement:
    """Decile 1 is the poorest tenth: moving to a higher decile is moving out of poverty."""
    listed = sorted(moves, key=lambda m: (m.from_decile, m.to_decile))
    return DecileMovement(
        improved=sum(m.households for m in listed if m.to_decile > m.from_decile),
        unchanged=sum(m.households for m in listed if m.to_decile == m.from_decile),
        worsened=sum(m.households for m in listed if m.to_decile < m.from_decile),
        moves=listed,
    )


class ReasonCount(BaseModel):
    reason: str
    events: int


class WaitingRecords(BaseModel):
    households: int
    records: int
    by_type: dict[str, int]


class PartitionLag(BaseModel):
    topic: str
    partition: int
    stored_next_offset: int | None
    position: int | None = Field(description="The consumer's position; None if not assigned here")
    highwater: int | None
    lag: int | None = Field(description="highwater - stored offset: events not yet projected")


class IntakeRefusalCount(BaseModel):
    agency: str
    agency_name: str | None = Field(
        None, description="The agency's name in Bahasa Indonesia; None for one not configured"
    )
    agency_name_en: str | None = Field(None, description="The agency's name in English")
    reason: str = Field(description="The dead letter's reason code, e.g. `rule-violation`")
    refusals: int
    last_refused_at: datetime


class IntakeRefusalDay(BaseModel):
    day: date = Field(description="Lamandau's day (WIB): a refusal names no household")
    agency: str
    refusals: int


class IntakeRefusals(BaseModel):
    """Records an agency's system published on its intake topic and the platform refused
    (dead-lettered); a record refused again after a redrive is a refusal again."""

    total: int
    by_agency_and_reason: list[IntakeRefusalCount]
    by_day: list[IntakeRefusalDay] = Field(description="The last 30 days with refusals")


def named_refusals(refusals: IntakeRefusals, agencies: Iterable[Agency]) -> IntakeRefusals:
    """The refusals with each agency's names, for readers who know the agency by its name (the
    dead letters know only its code)."""
    known = {a.code: a for a in agencies}
    named = []
    for count in refusals.by_agency_and_reason:
        agency = known.get(count.agency)
        named.append(
            count.model_copy(
                update={
                    "agency_name": agency.name if agency else None,
                    "agency_name_en": agency.name_en if agency else None,
                }
            )
        )
    return refusals.model_copy(update={"by_agency_and_reason": named})


class DataQuality(BaseModel):
    rejected_total: int = Field(description="Domain events the projector could not read")
    rejected_by_reason: list[ReasonCount]
    intake_refusals: IntakeRefusals
    waiting_for_household: WaitingRecords
    partitions: list[PartitionLag]
    events_projected_since_start: int


class PublicFigure(BaseModel):
    value: int | float | None
    suppressed: bool


class PublicSummary(BaseModel):
    area: str
    area_name: str
    level: Level
    threshold: int
    figures: dict[str, PublicFigure]
