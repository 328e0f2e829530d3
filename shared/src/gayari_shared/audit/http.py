"""The audit trail over HTTP: `AuditTrailDep` records what a route reads, `audit_router` lets
administrators query the log (`GET /audit`).

A route that returns households' personal data records it before it answers:

    async def read(..., trail: AuditTrailDep) -> View:
        found = ...
        await trail.read("read:household", [found.id])
        return found

The row names the caller's key and agency (set by authentication), the operation, the
households and the request's correlation id. Writes need nothing here: every event staged in
the outbox brings its audit row along (see store.audited_cte)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gayari_shared.audit.store import AuditFilter, AuditLog
from gayari_shared.audit.trail import read_row
from gayari_shared.auth.http import authorized
from gayari_shared.auth.keys import Role
from gayari_shared.events.base import AGENCY_CODE_PATTERN
from gayari_shared.http.correlation import current_correlation_id
from gayari_shared.http.openapi import DeclaredQueryRoute
from gayari_shared.http.problems import Problem


@dataclass(frozen=True, slots=True)
class AuditTrail:
    log: AuditLog

    async def read(self, operation: str, household_ids: Iterable[uuid.UUID]) -> None:
        """Record that the caller read these households (nothing when there are none)."""
        ids = list(household_ids)
        if ids:
            await self.log.append(read_row(operation, ids, current_correlation_id()))


async def audit_trail(request: Request) -> AuditTrail:
    log: AuditLog = request.app.state.audit_log
    return AuditTrail(log)


AuditTrailDep = Annotated[AuditTrail, Depends(audit_trail)]


class AuditQuery(BaseModel):
    """The filters of GET /audit; an unknown parameter is a 422."""

    model_config = ConfigDict(extra="forbid")

    household_id: uuid.UUID | None = Field(
        default=None,
        description="Rows naming this household",
        examples=["5f1c9e2a-7b34-4d8e-b6a0-1c2d3e4f5a6b"],
    )
    key_id: str | None = Field(
        default=None,
        pattern=r"^([0-9a-f]{12}|kafka:[A-Za-z0-9._-]{1,249})$",
        description="An API key's id, or kafka:<intake topic>",
        examples=["3f9a1c0b7d2e"],
    )
    agency: str | None = Field(default=None, pattern=AGENCY_CODE_PATTERN, examples=["dispar"])
    operation: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9:._-]{1,200}$",
        description="read:<view> for a read (read:household, read:case, ...), the event type "
        "for a write",
        examples=["read:household"],
    )
    access: Literal["read", "write"] | None = Field(default=None, examples=["read"])
    since: AwareDatetime | None = Field(
        default=None,
        description="From this instant, included (with its UTC offset)",
        examples=["2026-12-01T00:00:00+07:00"],
    )
    until: AwareDatetime | None = Field(
        default=None,
        description="Before this instant (with its UTC offset)",
        examples=["2027-01-01T00:00:00+07:00"],
    )
    limit: int = Field(default=100, ge=1, le=1000, description="Rows per page", examples=[100])
    after: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        description="The `next` of the page before: the rows older than it",
        examples=[1042],
    )


class AuditEntry(BaseModel):
    id: int
    at: datetime
    key_id: str | None = Field(description="The API key's id; kafka:<topic> for intake")
    agency: str | None
    access: Literal["read", "write"]
    operation: str = Field(description="read:<view> for a read, the event type for a write")
    household_ids: list[uuid.UUID]
    correlation_id: str


class AuditPage(BaseModel):
    records: list[AuditEntry] = Field(description="Newest first")
    next: int | None = Field(description="Pass as `after` for the next page; null at the end")


_PROBLEM: dict[str, Any] = {
    "model": Problem,
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def audit_router() -> APIRouter:
    router = APIRouter(tags=["audit"], route_class=DeclaredQueryRoute)

    @router.get(
        "/audit",
        operation_id="getAuditTrail",
        dependencies=[authorized(Role.ADMIN)],
        responses={
            401: {**_PROBLEM, "description": "No API key, or an unknown, revoked or expired one"},
            403: {**_PROBLEM, "description": "Only administrators read the audit trail"},
            422: {**_PROBLEM, "description": "A parameter is unknown or its value is not valid"},
        },
    )
    async def get_audit(request: Request, query: Annotated[AuditQuery, Query()]) -> AuditPage:
        """Who read or wrote which households' personal data in this service, newest first, a
        page at a time. Administrators only."""
        log: AuditLog = request.app.state.audit_log
        found = await log.query(
            AuditFilter(
                household_id=query.household_id,
                key_id=query.key_id,
                agency=query.agency,
                operation=query.operation,
                access=query.access,
                since=query.since,
                until=query.until,
                before_id=query.after,
            ),
            query.limit,
        )
        records = [AuditEntry.model_validate(r, from_attributes=True) for r in found]
        full = len(records) == query.limit
        return AuditPage(records=records, next=records[-1].id if full and records else None)

    return router
