"""HTTP reads of the interventions service: an agency's own records, listed per kind and one by
id; an administrator's key reads every agency's. Another agency's record is not found (404),
never forbidden, so that its id tells the caller nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from gayari_interventions.domain.records import (
    DEFAULT_PAGE,
    MAX_PAGE,
    BudgetAllocationRecord,
    BusinessSurveyRecord,
    GrantRecord,
    ListedKind,
    MentoringVisitRecord,
    RecordFilter,
    StoredRecord,
    TrainingSessionRecord,
    decode_cursor,
    in_utc_range,
)
from gayari_interventions.domain.rules import IsoDate
from gayari_interventions.entrypoints.http import PROBLEM
from gayari_interventions.service_layer import handlers
from gayari_interventions.service_layer.handlers import InterventionsDeps
from gayari_shared.audit.http import AuditTrail, AuditTrailDep
from gayari_shared.auth import Principal, Role, authorized
from gayari_shared.http.openapi import DeclaredQueryRoute
from gayari_shared.http.problems import ProblemError
from gayari_shared.inputs import DIGITS_ONLY

READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {**PROBLEM, "description": "No API key, or an unknown, revoked or expired one"},
    403: {**PROBLEM, "description": "The key lacks the role, or belongs to no agency"},
    422: {**PROBLEM, "description": "An unknown or invalid query parameter"},
}
ONE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **READ_RESPONSES,
    404: {**PROBLEM, "description": "No such record of the caller's agency"},
}
router = APIRouter(tags=["records"], route_class=DeclaredQueryRoute)


@dataclass(frozen=True, slots=True)
class Reading:
    deps: InterventionsDeps
    agency: str | None  # None: an administrator, who reads every agency's records
    trail: AuditTrail  # records name households: each read is in the audit trail


async def reading(
    request: Request,
    principal: Annotated[Principal, authorized(Role.INTERVENTIONS_WRITE)],
    trail: AuditTrailDep,
) -> Reading:
    # The agency that records its interventions reads them back; an administrator reads all.
    if Role.ADMIN in principal.roles:
        return Reading(request.app.state.deps, None, trail)
    if principal.agency is None:
        raise ProblemError(
            403,
            "Forbidden",
            f"key {principal.key_id} belongs to no agency: records are read by their agency",
            kind="urn:gayari:problem:forbidden",
        )
    return Reading(request.app.state.deps, principal.agency, trail)


Reader = Annotated[Reading, Depends(reading)]


def _cursor(text: str | None) -> str | None:
    if text is not None and decode_cursor(text) is None:
        raise ValueError("not a cursor (the `next` of a page of this list)")
    return text


class RecordQuery(BaseModel):
    """Filters of every list; an unknown parameter is refused (422)."""

    model_config = ConfigDict(extra="forbid")

    date_from: IsoDate | None = Field(
        default=None,
        description="The record's date on or after this day (a grant's day in the zone of its "
        "household's province, a budget allocation's in WIB)",
        examples=["2026-01-01"],
    )
    date_to: IsoDate | None = Field(
        default=None, description="... and on or before this day", examples=["2026-12-31"]
    )
    changed_since: Annotated[AwareDatetime, AfterValidator(in_utc_range)] | None = Field(
        default=None,
        description="Recorded or voided at or after this moment (server time, `changed_at`)",
        examples=["2026-11-30T00:00:00Z"],
    )
    external_id: uuid.UUID | None = Field(
        default=None,
        description="The CloudEvents `id` the agency's system sent the record with on its "
        "intake topic",
        examples=["9d2e6b1a-3c4f-4a8b-8e7d-2f1a0b9c8d7e"],
    )
    after: Annotated[str | None, AfterValidator(_cursor)] = Field(
        default=None,
        description="The `next` cursor of the page before",
        examples=[
            "WyIyMDI2LTExLTMwVDAyOjE1OjAwLjAwNDAwMCswMDowMCIsICIwYjhhNGYzZS0yZDdjLTRjMWUtOWE1MS02Zj"
            "BkMmI3YzhlMTEiXQ"
        ],
    )
    # Written in the digits 0-9: "1.0", "+5" or "true" is no page size.
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE), DIGITS_ONLY] = Field(
        default=DEFAULT_PAGE, description="Records per page", examples=[100]
    )

    def to_filter(self, agency: str | None) -> RecordFilter:
        return RecordFilter(
            agency=agency,
            household_id=getattr(self, "household_id", None),
            date_from=self.date_from,
            date_to=self.date_to,
            changed_since=self.changed_since,
            external_id=self.external_id,
            after=None if self.after is None else decode_cursor(self.after),
            limit=self.limit,
        )


class HouseholdRecordQuery(RecordQuery):
    household_id: uuid.UUID | None = Field(
        default=None,
        description="One household's records",
        examples=["5f1c9e2a-7b34-4d8e-b6a0-1c2d3e4f5a6b"],
    )


R = TypeVar("R", bound=StoredRecord)


class Page(BaseModel, Generic[R]):
    items: list[R] = Field(description="Oldest change first: by `changed_at`, then `id`")
    next: str | None = Field(description="Pass as `after` for the next page; null on the last page")


class GrantPage(Page[GrantRecord]):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "0b8a4f3e-2d7c-4c1e-9a51-6f0d2b7c8e11",
                            "household_id": "5f1c9e2a-7b34-4d8e-b6a0-1c2d3e4f5a6b",
                            "agency": "distakan",
                            "kind": "capital",
                            "amount_idr": 2500000,
                            "items": [],
                            "purpose": "Modal budidaya ikan nila",
                            "fiscal_year": 2026,
                            "budget_line": "5.1.05.05.01.0001",
                            "issued_at": "2026-11-30T02:15:00Z",
                            "external_id": "9d2e6b1a-3c4f-4a8b-8e7d-2f1a0b9c8d7e",
                            "changed_at": "2026-11-30T02:15:00.004Z",
                            "void": None,
                        }
                    ],
                    "next": None,
                }
            ]
        }
    )


class TrainingSessionPage(Page[TrainingSessionRecord]):
    pass


class MentoringVisitPage(Page[MentoringVisitRecord]):
    pass


class BusinessSurveyPage(Page[BusinessSurveyRecord]):
    pass


class BudgetAllocationPage(Page[BudgetAllocationRecord]):
    pass


async def _page(
    read: Reading, kind: ListedKind, query: RecordQuery
) -> dict[str, list[StoredRecord] | str | None]:
    items, next_cursor = await handlers.list_records(read.deps, kind, query.to_filter(read.agency))
    await read.trail.read(f"read:{kind}", _households(items))
    return {"items": items, "next": next_cursor}


async def _one(read: Reading, kind: ListedKind, record_id: uuid.UUID) -> StoredRecord:
    record = await handlers.get_record(read.deps, kind, record_id, read.agency)
    await read.trail.read(f"read:{kind}", _households([record]))
    return record


def _households(records: list[StoredRecord]) -> list[uuid.UUID]:
    """The households the records name (sessions and budgets are an agency's: none)."""
    ids = (getattr(r, "household_id", None) for r in records)
    return [i for i in ids if i is not None]


@router.get("/grants", responses=READ_RESPONSES)
async def list_grants(read: Reader, query: Annotated[HouseholdRecordQuery, Query()]) -> GrantPage:
    """The caller's grants (an administrator's key: every agency's), a page at a time."""
    return GrantPage.model_validate(await _page(read, "grant", query))


@router.get("/grants/{grant_id}", responses=ONE_RESPONSES)
async def get_grant(read: Reader, grant_id: uuid.UUID) -> GrantRecord:
    return GrantRecord.model_validate(await _one(read, "grant", grant_id))


@router.get("/training-sessions", responses=READ_RESPONSES)
async def list_training_sessions(
    read: Reader, query: Annotated[RecordQuery, Query()]
) -> TrainingSessionPage:
    """The caller's training sessions; dated by their first day. No household filter: a
    session is the agency's, its participants are the households."""
    return TrainingSessionPage.model_validate(await _page(read, "training-session", query))


@router.get("/training-sessions/{session_id}", responses=ONE_RESPONSES)
async def get_training_session(read: Reader, session_id: uuid.UUID) -> TrainingSessionRecord:
    return TrainingSessionRecord.model_validate(await _one(read, "training-session", session_id))


@router.get("/mentoring-visits", responses=READ_RESPONSES)
async def list_mentoring_visits(
    read: Reader, query: Annotated[HouseholdRecordQuery, Query()]
) -> MentoringVisitPage:
    return MentoringVisitPage.model_validate(await _page(read, "mentoring-visit", query))


@router.get("/mentoring-visits/{visit_id}", responses=ONE_RESPONSES)
async def get_mentoring_visit(read: Reader, visit_id: uuid.UUID) -> MentoringVisitRecord:
    return MentoringVisitRecord.model_validate(await _one(read, "mentoring-visit", visit_id))


@router.get("/business-surveys", responses=READ_RESPONSES)
async def list_business_surveys(
    read: Reader, query: Annotated[HouseholdRecordQuery, Query()]
) -> BusinessSurveyPage:
    return BusinessSurveyPage.model_validate(await _page(read, "business-survey", query))


@router.get("/business-surveys/{survey_id}", responses=ONE_RESPONSES)
async def get_business_survey(read: Reader, survey_id: uuid.UUID) -> BusinessSurveyRecord:
    return BusinessSurveyRecord.model_validate(await _one(read, "business-survey", survey_id))


@router.get("/budget-allocations", responses=READ_RESPONSES)
async def list_budget_allocations(
    read: Reader, query: Annotated[RecordQuery, Query()]
) -> BudgetAllocationPage:
    """The caller's budget allocations; dated by when they were recorded."""
    return BudgetAllocationPage.model_validate(await _page(read, "budget-allocation", query))


@router.get("/budget-allocations/{allocation_id}", responses=ONE_RESPONSES)
async def get_budget_allocation(read: Reader, allocation_id: uuid.UUID) -> BudgetAllocationRecord:
    return BudgetAllocationRecord.model_validate(
        await _one(read, "budget-allocation", allocation_id)
    )
