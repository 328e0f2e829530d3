"""Following a household's business after the grant: mentoring visits and business outcome
surveys (the evidence of empowerment). Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

from gayari_interventions.domain.households import (
    KnownHousehold,
    household_zone,
    not_before_enrolment,
    require_enrolled,
)
from gayari_interventions.domain.rules import (
    HouseholdDay,
    Integer,
    not_in_future,
    require_agency,
)
from gayari_shared.events.interventions import (
    BusinessStatus,
    BusinessSurveyedV1,
    MentoringVisitedV1,
)
from gayari_shared.inputs import free_text

# Free text: several lines, tab and line breaks allowed, no other control character.
Notes = Annotated[
    str,
    Strict(),
    StringConstraints(strip_whitespace=True, max_length=4000),
    AfterValidator(free_text),
]
# Above ten billion rupiah a month is not a micro business: a typing error.
MAX_MONTHLY_INCOME_IDR = 10_000_000_000


class MentoringVisitRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    household_id: uuid.UUID
    visited_on: HouseholdDay
    business_status: BusinessStatus
    notes: Notes | None = Field(
        default=None, description="The mentor's notes; kept here, never published"
    )


class MentoringVisit(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    household_id: uuid.UUID
    agency: str
    visited_on: date
    business_status: BusinessStatus
    notes: str | None
    recorded_at: AwareDatetime


class BusinessSurveyRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    household_id: uuid.UUID
    surveyed_on: HouseholdDay
    monthly_income_idr: Integer = Field(ge=0, le=MAX_MONTHLY_INCOME_IDR)
    workers: Integer = Field(ge=0, le=1000, description="People working in it, the owner included")


class BusinessSurvey(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    household_id: uuid.UUID
    agency: str
    surveyed_on: date
    monthly_income_idr: int
    workers: int
    recorded_at: AwareDatetime


def record_visit(
    request: MentoringVisitRequest,
    *,
    agency: str,
    agencies: Collection[str],
    household: KnownHousehold | None,
    visit_id: uuid.UUID,
    now: datetime,
    household_version: int | None = None,
) -> MentoringVisit:
    require_agency(agency, agencies)
    enrolled = require_enrolled(request.household_id, household, household_version)
    not_in_future("visited_on", request.visited_on, now, household_zone(enrolled))
    not_before_enrolment("visited_on", request.visited_on, enrolled)
    return MentoringVisit(id=visit_id, agency=agency, recorded_at=now, **request.model_dump())


def record_survey(
    request: BusinessSurveyRequest,
    *,
    agency: str,
    agencies: Collection[str],
    household: KnownHousehold | None,
    survey_id: uuid.UUID,
    now: datetime,
    household_version: int | None = None,
) -> BusinessSurvey:
    require_agency(agency, agencies)
    enrolled = require_enrolled(request.household_id, household, household_version)
    not_in_future("surveyed_on", request.surveyed_on, now, household_zone(enrolled))
    not_before_enrolment("surveyed_on", request.surveyed_on, enrolled)
    return BusinessSurvey(id=survey_id, agency=agency, recorded_at=now, **request.model_dump())


def mentoring_visited(visit: MentoringVisit) -> MentoringVisitedV1:
    # The notes stay behind: free text about a family is personal data.
    return MentoringVisitedV1(
        household_id=visit.household_id,
        visit_id=visit.id,
        agency=visit.agency,
        visited_on=visit.visited_on,
        business_status=visit.business_status,
        recorded_at=visit.recorded_at,
    )


def business_surveyed(survey: BusinessSurvey) -> BusinessSurveyedV1:
    return BusinessSurveyedV1(
        household_id=survey.household_id,
        survey_id=survey.id,
        agency=survey.agency,
        surveyed_on=survey.surveyed_on,
        monthly_income_idr=survey.monthly_income_idr,
        workers=survey.workers,
        recorded_at=survey.recorded_at,
    )
