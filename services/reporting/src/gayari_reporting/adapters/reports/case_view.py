"""The case view: one household's state and every live record about it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from gayari_reporting.adapters.reports.facts import not_voided
from gayari_reporting.adapters.reports.snapshots import Snapshots
from gayari_reporting.domain.calendar import zone_of
from gayari_reporting.domain.readmodels import (
    CaseEntry,
    CaseHousehold,
)


async def read(
    db: Snapshots, household_id: uuid.UUID
) -> tuple[CaseHousehold | None, list[CaseEntry]] | None:
    """One household's state and every live record about it; None if nothing is known."""
    async with db.snapshot() as conn:
        state = await conn.fetchrow(
            "SELECT * FROM household_state WHERE household_id = $1", household_id
        )
        grants = await conn.fetch(
            f"""SELECT g.* FROM grants g
               WHERE g.household_id = $1 AND {not_voided("grant", "g.grant_id")}""",
            household_id,
        )
        trainings = await conn.fetch(
            f"""SELECT t.* FROM training_completions t WHERE t.household_id = $1
               AND {not_voided("training-completion", "t.completion_id")}""",
            household_id,
        )
        visits = await conn.fetch(
            f"""SELECT m.* FROM mentoring_visits m WHERE m.household_id = $1
               AND {not_voided("mentoring-visit", "m.visit_id")}""",
            household_id,
        )
        surveys = await conn.fetch(
            "SELECT * FROM live_surveys WHERE household_id = $1", household_id
        )
    # Its days in the zone of its village (Lamandau's if not known), as the reports count them.
    zone = zone_of(None if state is None else state["village_code"])
    entries = [
        CaseEntry(
            on=g["issued_at"].astimezone(zone).date(),
            record_type="grant",
            record_id=g["grant_id"],
            agency=g["agency"],
            kind="grant-" + g["kind"],
            amount_idr=int(g["amount_idr"]),
            details={"fiscal_year": g["fiscal_year"] or g["issued_at"].astimezone(zone).year},
        )
        for g in grants
    ]
    entries += [
        CaseEntry(
            on=t["completed_on"],
            record_type="training-completion",
            record_id=t["completion_id"],
            agency=t["agency"],
            kind="training",
            details={"topic": t["topic"], "hours": t["hours"]},
        )
        for t in trainings
    ]
    entries += [
        CaseEntry(
            on=m["visited_on"],
            record_type="mentoring-visit",
            record_id=m["visit_id"],
            agency=m["agency"],
            kind="mentoring",
            details={"business_status": m["business_status"]},
        )
        for m in visits
    ]
    entries += [
        CaseEntry(
            on=s["surveyed_on"],
            record_type="business-survey",
            record_id=s["survey_id"],
            agency=s["agency"],
            kind="survey",
            details={"monthly_income_idr": s["monthly_income_idr"], "workers": s["workers"]},
        )
        for s in surveys
    ]
    if state is None and not entries:
        return None
    entries.sort(key=lambda e: (e.on, e.record_type, str(e.record_id)))
    household = None
    if state is not None:
        household = CaseHousehold(
            registered=state["registered_at"] is not None,
            village_code=state["village_code"],
            village_name=None,
            welfare_decile=state["welfare_decile"],
            initial_welfare_decile=state["initial_decile"],
            enrolled_on=_local_day(state["enrolled_at"], zone),
            cohort_year=state["cohort_year"],
            exited_on=_local_day(state["exited_at"], zone),
            exit_reason=state["exit_reason"],
        )
    return household, entries


def _local_day(moment: datetime | None, zone: ZoneInfo) -> date | None:
    return None if moment is None else moment.astimezone(zone).date()
