"""The data-quality report: refused events, waiting records, and the intake's refusals."""

from __future__ import annotations

from typing import Final

from gayari_reporting.adapters.reports.snapshots import Snapshots
from gayari_reporting.domain.readmodels import (
    IntakeRefusalCount,
    IntakeRefusalDay,
    IntakeRefusals,
    ReasonCount,
    WaitingRecords,
)


async def read(db: Snapshots) -> tuple[list[ReasonCount], WaitingRecords]:
    async with db.snapshot() as conn:
        reasons = await conn.fetch(
            """SELECT reason, count(*) AS n FROM rejected_events
               GROUP BY reason ORDER BY n DESC, reason"""
        )
        if db.kept:
            waiting = await conn.fetch(
                """SELECT intervention_type, sum(records) AS n FROM waiting_records
                   GROUP BY 1"""
            )
            households = int(
                await conn.fetchval("SELECT count(DISTINCT household_id) FROM waiting_records")
            )
        else:
            waiting = await conn.fetch(_WAITING)
            households = len({h for r in waiting for h in r["households"]})
    return (
        [ReasonCount(reason=r["reason"], events=int(r["n"])) for r in reasons],
        WaitingRecords(
            households=households,
            records=sum(int(r["n"]) for r in waiting),
            by_type={r["intervention_type"]: int(r["n"]) for r in waiting},
        ),
    )


async def intake_refusals(db: Snapshots) -> IntakeRefusals:
    """From the dead letters (adapters/refusals.py), beside the generations: the same
    whatever read model is active. A refusal names no household it could be dated by: its day
    is Lamandau's (WIB)."""
    async with db.pool.acquire() as conn:
        counts = await conn.fetch(
            """SELECT agency, reason_code, count(*) AS n, max(refused_at) AS last
               FROM public.intake_refusals GROUP BY 1, 2 ORDER BY 1, 2"""
        )
        days = await conn.fetch(
            """SELECT (refused_at AT TIME ZONE 'Asia/Jakarta')::date AS day, agency,
                      count(*) AS n
               FROM public.intake_refusals WHERE refused_at > now() - interval '30 days'
               GROUP BY 1, 2 ORDER BY 1, 2"""
        )
    return IntakeRefusals(
        total=sum(int(r["n"]) for r in counts),
        by_agency_and_reason=[
            IntakeRefusalCount(
                agency=r["agency"],
                reason=r["reason_code"],
                refusals=int(r["n"]),
                last_refused_at=r["last"],
            )
            for r in counts
        ],
        by_day=[
            IntakeRefusalDay(day=r["day"], agency=r["agency"], refusals=int(r["n"])) for r in days
        ],
    )


# Live records of households not registered (yet), counted from the facts (household_rows.py keeps
# them per household).
_WAITING: Final = """WITH records AS (
      SELECT intervention_type, household_id FROM live_interventions
      UNION ALL
      SELECT 'business-survey', household_id FROM live_surveys)
    SELECT r.intervention_type, count(*) AS n,
           array_agg(DISTINCT r.household_id) AS households
    FROM records r
    WHERE NOT EXISTS (SELECT 1 FROM household_state h
                      WHERE h.household_id = r.household_id
                        AND h.registered_at IS NOT NULL)
    GROUP BY 1"""
