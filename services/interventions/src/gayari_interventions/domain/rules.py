"""Rules shared by every kind of record, and the errors the domain raises besides
RuleViolationError (422). Entrypoints turn them into problem details (HTTP) or dead letters."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field

from gayari_shared.events.interventions import JAKARTA
from gayari_shared.inputs import Integer, IsoDate, Text64, Text200
from gayari_shared.rules import RuleViolationError

# The strict input types of every request (gayari_shared.inputs), by the names used here.
__all__ = ["BudgetLine", "HouseholdDay", "Integer", "IsoDate", "Text200"]
BudgetLine = Text64
# The day a household's record happened: see households.not_before_enrolment.
HouseholdDay = Annotated[
    IsoDate,
    Field(
        description="YYYY-MM-DD, in Lamandau's calendar: not in the future, and not before the "
        "household's registration or enrolment in GAYARI (422 naming the field)"
    ),
]


class NotFoundError(LookupError):
    """The record a request refers to does not exist."""


class ForbiddenError(PermissionError):
    """The record belongs to another agency: only the agency that made it may touch it."""


class ConflictError(ValueError):
    """The request repeats what is already recorded."""


def require_agency(agency: str, agencies: Collection[str]) -> None:
    # Agencies are configuration (GAYARI_AGENCIES): a key for a retired or unknown agency is
    # authenticated but may not act (403), whatever the request says.
    if agency not in agencies:
        raise ForbiddenError(f"agency {agency!r} is not a configured GAYARI agency")


def require_owner(owner: str, agency: str, what: str) -> None:
    if owner != agency:
        raise ForbiddenError(f"{what} belongs to {owner}: only {owner} may do that")


def not_in_future(field: str, day: date, now: datetime, zone: ZoneInfo = JAKARTA) -> None:
    # Today in the household's zone (Lamandau's by default), not UTC's: at 06:00 WIB it is
    # still yesterday in UTC.
    if day > now.astimezone(zone).date():
        raise RuleViolationError(field, f"{day.isoformat()} is in the future")
