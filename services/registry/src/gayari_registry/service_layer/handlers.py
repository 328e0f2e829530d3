"""Use cases of the registry."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from gayari_registry.adapters.postgres import HouseholdUnitOfWork
from gayari_registry.domain.model import Household, HouseholdApplication, register, registered_event
from gayari_shared.areas import AreaDirectory
from gayari_shared.events.factory import envelope_for
from gayari_shared.hashing import keyed_hash

UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[HouseholdUnitOfWork]]

SOURCE = "/gayari/registry"


@dataclass(frozen=True, slots=True)
class RegistryDeps:
    unit_of_work: UnitOfWorkFactory
    areas: AreaDirectory
    hash_secret: str


@dataclass(frozen=True, slots=True)
class Registration:
    household: Household
    created: bool


async def register_household(
    deps: RegistryDeps, application: HouseholdApplication, correlation_id: str
) -> Registration:
    """Register a household once per KK; a repeated KK returns the household already there."""
    household = register(application, deps.areas, household_id=uuid.uuid4(), now=datetime.now(UTC))
    async with deps.unit_of_work() as uow:
        if not await uow.add_if_new(household):
            existing = await uow.by_kk(application.kk)
            assert existing is not None  # the unique KK conflicted with this row
            return Registration(existing, created=False)
        event = registered_event(household, keyed_hash(deps.hash_secret, household.kk))
        await uow.publish(
            envelope_for(event, source=SOURCE, correlation_id=correlation_id), event.STREAM
        )
    return Registration(household, created=True)


async def get_household(deps: RegistryDeps, household_id: uuid.UUID) -> Household | None:
    async with deps.unit_of_work() as uow:
        return await uow.by_id(household_id)
