"""An agency's GAYARI budget per fiscal year, against which grants are realised. Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gayari_interventions.domain.rules import BudgetLine, Integer, require_agency
from gayari_shared.events.interventions import BudgetAllocatedV1

# Ten trillion rupiah is several times the regency's whole annual budget: a typing error.
MAX_ALLOCATION_IDR = 10_000_000_000_000


class BudgetAllocationRequest(BaseModel):
    """Several allocations of one fiscal year add up (the original budget, the amendment)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fiscal_year: Integer = Field(ge=2000, le=2100)
    amount_idr: Integer = Field(gt=0, le=MAX_ALLOCATION_IDR)
    budget_line: BudgetLine | None = None


class BudgetAllocation(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    agency: str
    fiscal_year: int
    amount_idr: int
    budget_line: str | None
    allocated_at: AwareDatetime


def allocate_budget(
    request: BudgetAllocationRequest,
    *,
    agency: str,
    agencies: Collection[str],
    allocation_id: uuid.UUID,
    now: datetime,
) -> BudgetAllocation:
    require_agency(agency, agencies)
    return BudgetAllocation(
        id=allocation_id, agency=agency, allocated_at=now, **request.model_dump()
    )


def budget_allocated(allocation: BudgetAllocation) -> BudgetAllocatedV1:
    return BudgetAllocatedV1(
        agency=allocation.agency,
        allocation_id=allocation.id,
        fiscal_year=allocation.fiscal_year,
        amount_idr=allocation.amount_idr,
        budget_line=allocation.budget_line,
        allocated_at=allocation.allocated_at,
    )
