"""Grants: capital stimulus (an amount) and equipment or in-kind (items; the amount is their
sum). Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gayari_interventions.domain.households import (
    KnownHousehold,
    household_zone,
    not_before_enrolment,
    require_enrolled,
)
from gayari_interventions.domain.rules import BudgetLine, Integer, Text200, require_agency
from gayari_shared.events.interventions import (
    GrantIssuedV2,
    GrantItem,
    GrantKind,
    moment_of_day,
)
from gayari_shared.inputs import IsoDate, Text30
from gayari_shared.rules import RuleViolationError

# A single grant above one billion rupiah is a typing error, not a micro-business grant.
MAX_GRANT_IDR = 1_000_000_000


class GrantItemRequest(BaseModel):
    """One line of an equipment grant, e.g. 500 ekor bibit ikan nila at Rp 300."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: Text200
    quantity: Integer = Field(gt=0, le=1_000_000)
    unit: Text30 = Field(examples=["ekor", "buah", "set"])
    unit_value_idr: Integer = Field(gt=0, le=MAX_GRANT_IDR)

    @property
    def value_idr(self) -> int:
        return self.quantity * self.unit_value_idr


class GrantRequest(BaseModel):
    """A grant as an agency submits it; the agency is the authenticated caller, never the body.

    Capital: amount_idr, no items. Equipment: items; amount_idr may be left out and, if given,
    must be their sum (a check on the operator's arithmetic).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    household_id: uuid.UUID
    kind: GrantKind
    amount_idr: Integer | None = Field(default=None, gt=0, le=MAX_GRANT_IDR, description="Rupiah")
    items: list[GrantItemRequest] = Field(default_factory=list, max_length=100)
    purpose: Text200 = Field(examples=["Modal usaha warung sembako"])
    fiscal_year: Integer | None = Field(
        default=None,
        ge=2000,
        le=2100,
        description="Defaults to the year of the grant's day in the zone of the household's "
        "province (WIB, WITA, WIT)",
    )
    budget_line: BudgetLine | None = Field(default=None, examples=["5.1.05.05.01.0001"])
    issued_on: IsoDate | None = Field(
        default=None,
        description="The day (in Lamandau) of a grant handed over before it was typed in: not "
        "in the future, not before the household's registration and enrolment. Defaults to "
        "today; the fiscal year defaults to this day's.",
    )


class Grant(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    household_id: uuid.UUID
    agency: str
    kind: GrantKind
    amount_idr: int
    items: list[GrantItemRequest]
    purpose: str
    fiscal_year: int
    budget_line: str | None
    issued_at: AwareDatetime


def grant_amount(request: GrantRequest) -> int:
    """The grant's amount in rupiah, checked against its kind."""
    if request.kind == "capital":
        if request.items:
            raise RuleViolationError("items", "a capital grant has an amount, not items")
        if request.amount_idr is None:
            raise RuleViolationError("amount_idr", "a capital grant needs its amount")
        return request.amount_idr
    if not request.items:
        raise RuleViolationError("items", "an equipment grant lists its items")
    total = sum(item.value_idr for item in request.items)
    if total > MAX_GRANT_IDR:
        raise RuleViolationError("items", f"the items add up to {total}, above {MAX_GRANT_IDR}")
    if request.amount_idr is not None and request.amount_idr != total:
        raise RuleViolationError(
            "amount_idr", f"{request.amount_idr} is not the sum of the items ({total})"
        )
    return total


def issue_grant(
    request: GrantRequest,
    *,
    agency: str,
    agencies: Collection[str],
    household: KnownHousehold | None,
    grant_id: uuid.UUID,
    now: datetime,
    household_version: int | None = None,
) -> Grant:
    amount = grant_amount(request)
    require_agency(agency, agencies)
    known = require_enrolled(request.household_id, household, household_version)
    # The day and fiscal year in the zone of the household's province (Keppres 41/1987).
    zone = household_zone(known)
    issued_at = moment_of_day(request.issued_on, now, field="issued_on", zone=zone)
    if request.issued_on is not None:
        not_before_enrolment("issued_on", request.issued_on, known)
    current_year = now.astimezone(zone).year
    fiscal_year = request.fiscal_year or issued_at.astimezone(zone).year
    if fiscal_year > current_year:
        raise RuleViolationError("fiscal_year", f"{fiscal_year} has not begun yet")
    return Grant(
        id=grant_id,
        household_id=request.household_id,
        agency=agency,
        kind=request.kind,
        amount_idr=amount,
        items=request.items,
        purpose=request.purpose,
        fiscal_year=fiscal_year,
        budget_line=request.budget_line,
        issued_at=issued_at,
    )


def grant_issued(grant: Grant) -> GrantIssuedV2:
    return GrantIssuedV2(
        household_id=grant.household_id,
        grant_id=grant.id,
        agency=grant.agency,
        kind=grant.kind,
        amount_idr=grant.amount_idr,
        purpose=grant.purpose,
        fiscal_year=grant.fiscal_year,
        budget_line=grant.budget_line,
        items=[GrantItem.model_validate(item.model_dump()) for item in grant.items],
        issued_at=grant.issued_at,
    )
