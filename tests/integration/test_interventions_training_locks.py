"""Training writes lock a session before its participant, whichever the use case: a member's
attendance and a second enrolment of that member into the session, at the same moment, queue
up instead of deadlocking (PostgreSQL would abort one of them after a second)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import pytest

from gayari_interventions.adapters.postgres import unit_of_work
from gayari_interventions.domain.rules import ConflictError
from gayari_interventions.domain.training import (
    Attendance,
    AttendanceRequest,
    CompletionRequest,
    ParticipationRequest,
    TrainingCompletion,
    TrainingSessionRequest,
)
from gayari_interventions.service_layer import handlers
from gayari_interventions.service_layer.handlers import InterventionsDeps

pytestmark = pytest.mark.stack

AGENCY = "distakan"
YESTERDAY = date.today() - timedelta(days=1)


@pytest.fixture
def pool(interventions_pool: asyncpg.Pool) -> asyncpg.Pool:
    return interventions_pool


async def _participant(deps: InterventionsDeps, pool: asyncpg.Pool) -> ParticipationRequest:
    """An enrolled household's member taking part in a session that ran until yesterday."""
    household, member = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        """INSERT INTO known_households (household_id, village_code, welfare_decile,
               registered_at, enrolled_at, member_ids, members_as_of)
           VALUES ($1, '62.09.01.2001', 2, $2, $2, $3, $2)""",
        household,
        datetime.now(UTC) - timedelta(days=30),
        [member],
    )
    session = await handlers.record_training_session(
        deps,
        AGENCY,
        TrainingSessionRequest(
            topic="Budidaya ikan nila",
            starts_on=YESTERDAY - timedelta(days=2),
            ends_on=YESTERDAY,
            hours=16,
            place="Balai Desa",
        ),
        "it",
    )
    taking_part = ParticipationRequest(
        session_id=session.id, household_id=household, member_id=member
    )
    await handlers.add_training_participant(deps, AGENCY, taking_part, "it")
    return taking_part


@pytest.mark.parametrize("write", ["attendance", "completion"])
async def test_a_record_and_a_second_enrolment_of_the_member_queue_up(
    pool: asyncpg.Pool, write: str
) -> None:
    deps = InterventionsDeps(
        unit_of_work=partial(unit_of_work, pool, "it"), agencies=frozenset({AGENCY})
    )
    taking_part = await _participant(deps, pool)
    fields = taking_part.model_dump()
    record: Coroutine[Any, Any, Attendance | TrainingCompletion] = (
        handlers.record_training_attendance(
            deps, AGENCY, AttendanceRequest(**fields, attended_on=YESTERDAY), "it"
        )
        if write == "attendance"
        else handlers.record_training_completion(
            deps, AGENCY, CompletionRequest(**fields, completed_on=YESTERDAY), "it"
        )
    )
    # The second enrolment, step by step as add_training_participant takes its locks: the
    # session first; the record starts meanwhile; then the member's participant row.
    async with unit_of_work(pool, "it") as uow:
        assert await uow.live_session(taking_part.session_id) is not None
        recording = asyncio.create_task(record)
        await asyncio.sleep(0.5)  # the record takes whatever lock it takes first, then waits
        assert not recording.done()
        # Were the participant row locked by the record, this would wait for it while it
        # waits for the session: a deadlock, and PostgreSQL aborts one of the two.
        already = await uow.live_participant(
            taking_part.session_id, taking_part.household_id, taking_part.member_id
        )
        assert already is not None
    recorded = await asyncio.wait_for(recording, timeout=10)
    assert recorded.household_id == taking_part.household_id
    with pytest.raises(ConflictError):
        await handlers.add_training_participant(deps, AGENCY, taking_part, "it")
