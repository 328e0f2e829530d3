"""HTTP API of the registry."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel

from gayari_registry.domain.model import Household, HouseholdApplication, Member
from gayari_registry.service_layer.handlers import RegistryDeps, get_household, register_household
from gayari_shared.auth import Role, require
from gayari_shared.http.correlation import current_correlation_id
from gayari_shared.http.problems import FieldError, Problem, ProblemError
from gayari_shared.rules import RuleViolationError


class HouseholdView(BaseModel):
    id: uuid.UUID
    kk: str
    head_name: str
    village_code: str
    welfare_decile: int
    members: list[Member]
    registered_at: datetime

    @classmethod
    def of(cls, household: Household) -> HouseholdView:
        return cls.model_validate(household.model_dump())


PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}
router = APIRouter(tags=["households"])
WRITER = Depends(require(Role.REGISTRY_WRITE))
READER = Depends(require(Role.REGISTRY_READ))


def _deps(request: Request) -> RegistryDeps:
    deps: RegistryDeps = request.app.state.deps
    return deps


@router.post(
    "/households",
    dependencies=[WRITER],
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": HouseholdView, "description": "KK already registered"}, 422: PROBLEM},
)
async def post_household(
    application: HouseholdApplication, request: Request, response: Response
) -> HouseholdView:
    try:
        result = await register_household(_deps(request), application, current_correlation_id())
    except RuleViolationError as exc:
        raise ProblemError(
            422,
            "The household breaks a registration rule",
            f"{exc.field}: {exc.message}",
            kind="urn:gayari:problem:rule-violation",
            errors=[FieldError(field=exc.field, message=exc.message)],
        ) from exc
    if not result.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/households/{result.household.id}"
    return HouseholdView.of(result.household)


@router.get("/households/{household_id}", dependencies=[READER], responses={404: PROBLEM})
async def read_household(household_id: uuid.UUID, request: Request) -> HouseholdView:
    household = await get_household(_deps(request), household_id)
    if household is None:
        raise ProblemError(404, "No such household", f"household {household_id} is not registered")
    return HouseholdView.of(household)
