"""Training: an agency's session, the household members who take part, their attendance and
their completion. Pure: no I/O.

Only the agency that holds a session records its participants, attendance and completions.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gayari_interventions.domain.households import (
    KnownHousehold,
    household_zone,
    not_before_enrolment,
    require_enrolled,
    require_member,
)
from gayari_interventions.domain.rules import (
    ConflictError,
    HouseholdDay,
    Integer,
    IsoDate,
    Text200,
    not_in_future,
    require_agency,
    require_owner,
)
from gayari_shared.events.interventions import (
    TrainingAttendedV1,
    TrainingCompletedV2,
    TrainingParticipantAddedV1,
    TrainingSessionRecordedV1,
)
from gayari_shared.rules import RuleViolationError


class TrainingSessionRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: Text200 = Field(examples=["Budidaya ikan nila"])
    starts_on: IsoDate
    ends_on: IsoDate
    hours: Integer = Field(gt=0, le=1000, description="Hours of instruction over the session")
    place: Text200 = Field(examples=["Balai Desa Bukit Raya"])


class TrainingSession(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    agency: str
    topic: str
    starts_on: date
    ends_on: date
    hours: int
    place: str
    recorded_at: AwareDatetime


class ParticipationRequest(BaseModel):
    """Who: a member of a household, in a session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: uuid.UUID
    household_id: uuid.UUID
    member_id: uuid.UUID = Field(description="The registry's id of the household member")


class AttendanceRequest(ParticipationRequest):
    attended_on: HouseholdDay


class CompletionRequest(ParticipationRequest):
    completed_on: HouseholdDay


class Participant(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    session_id: uuid.UUID
    household_id: uuid.UUID
    member_id: uuid.UUID
    agency: str
    added_at: AwareDatetime


class Attendance(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    participant_id: uuid.UUID
    session_id: uuid.UUID
    household_id: uuid.UUID
    member_id: uuid.UUID
    agency: str
    attended_on: date
    recorded_at: AwareDatetime


class TrainingCompletion(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    participant_id: uuid.UUID
    session_id: uuid.UUID
    household_id: uuid.UUID
    member_id: uuid.UUID
    agency: str
    topic: str
    hours: int
    completed_on: date
    recorded_at: AwareDatetime


def record_session(
    request: TrainingSessionRequest,
    *,
    agency: str,
    agencies: Collection[str],
    session_id: uuid.UUID,
    now: datetime,
) -> TrainingSession:
    require_agency(agency, agencies)
    if request.ends_on < request.starts_on:
        raise RuleViolationError("ends_on", "a session cannot end before it starts")
    return TrainingSession(id=session_id, agency=agency, recorded_at=now, **request.model_dump())


def _session_of(
    session: TrainingSession | None, request: ParticipationRequest, agency: str
) -> TrainingSession:
    if session is None:
        raise RuleViolationError(
            "session_id", f"training session {request.session_id} is unknown or voided"
        )
    require_owner(session.agency, agency, f"training session {session.id}")
    return session


def _participant_of(participant: Participant | None, request: ParticipationRequest) -> Participant:
    if participant is None:
        raise RuleViolationError(
            "member_id",
            f"member {request.member_id} of household {request.household_id} is not a "
            f"participant of training session {request.session_id}",
        )
    return participant


def add_participant(
    request: ParticipationRequest,
    *,
    agency: str,
    agencies: Collection[str],
    session: TrainingSession | None,
    household: KnownHousehold | None,
    already: Participant | None,
    participant_id: uuid.UUID,
    now: datetime,
    household_version: int | None = None,
) -> Participant:
    require_agency(agency, agencies)
    _session_of(session, request, agency)
    enrolled = require_enrolled(request.household_id, household, household_version)
    require_member(enrolled, request.member_id)
    if already is not None:
        raise ConflictError(
            f"member {request.member_id} already takes part in training session "
            f"{request.session_id} (participant {already.id})"
        )
    return Participant(id=participant_id, agency=agency, added_at=now, **request.model_dump())


def record_attendance(
    request: AttendanceRequest,
    *,
    agency: str,
    agencies: Collection[str],
    session: TrainingSession | None,
    household: KnownHousehold | None,
    participant: Participant | None,
    attended_already: bool,
    attendance_id: uuid.UUID,
    now: datetime,
    household_version: int | None = None,
) -> Attendance:
    require_agency(agency, agencies)
    held = _session_of(session, request, agency)
    enrolled = require_enrolled(request.household_id, household, household_version)
    taking_part = _participant_of(participant, request)
    if not held.starts_on <= request.attended_on <= held.ends_on:
        raise RuleViolationError(
            "attended_on",
            f"the session runs from {held.starts_on} to {held.ends_on}, "
            f"not on {request.attended_on}",
        )
    not_in_future("attended_on", request.attended_on, now, household_zone(enrolled))
    not_before_enrolment("attended_on", request.attended_on, enrolled)
    if attended_already:
        raise ConflictError(f"attendance on {request.attended_on} is already recorded")
    return Attendance(
        id=attendance_id,
        participant_id=taking_part.id,
        agency=agency,
        recorded_at=now,
        **request.model_dump(),
    )


def complete_training(
    request: CompletionRequest,
    *,
    agency: str,
    agencies: Collection[str],
    session: TrainingSession | None,
    household: KnownHousehold | None,
    participant: Participant | None,
    completed_already: bool,
    completion_id: uuid.UUID,
    now: datetime,
    household_version: int | None = None,
) -> TrainingCompletion:
    require_agency(agency, agencies)
    held = _session_of(session, request, agency)
    enrolled = require_enrolled(request.household_id, household, household_version)
    taking_part = _participant_of(participant, request)
    if request.completed_on < held.starts_on:
        raise RuleViolationError(
            "completed_on", f"the session only starts on {held.starts_on.isoformat()}"
        )
    not_in_future("completed_on", request.completed_on, now, household_zone(enrolled))
    not_before_enrolment("completed_on", request.completed_on, enrolled)
    if completed_already:
        raise ConflictError(f"participant {taking_part.id} has already completed the session")
    return TrainingCompletion(
        id=completion_id,
        participant_id=taking_part.id,
        agency=agency,
        topic=held.topic,
        hours=held.hours,
        recorded_at=now,
        **request.model_dump(),
    )


def session_recorded(session: TrainingSession) -> TrainingSessionRecordedV1:
    return TrainingSessionRecordedV1(
        agency=session.agency,
        session_id=session.id,
        topic=session.topic,
        starts_on=session.starts_on,
        ends_on=session.ends_on,
        hours=session.hours,
        place=session.place,
        recorded_at=session.recorded_at,
    )


def participant_added(participant: Participant) -> TrainingParticipantAddedV1:
    return TrainingParticipantAddedV1(
        household_id=participant.household_id,
        participant_id=participant.id,
        session_id=participant.session_id,
        member_id=participant.member_id,
        agency=participant.agency,
        added_at=participant.added_at,
    )


def attended(attendance: Attendance) -> TrainingAttendedV1:
    return TrainingAttendedV1(
        household_id=attendance.household_id,
        attendance_id=attendance.id,
        participant_id=attendance.participant_id,
        session_id=attendance.session_id,
        member_id=attendance.member_id,
        agency=attendance.agency,
        attended_on=attendance.attended_on,
        recorded_at=attendance.recorded_at,
    )


def training_completed(completion: TrainingCompletion) -> TrainingCompletedV2:
    return TrainingCompletedV2(
        household_id=completion.household_id,
        completion_id=completion.id,
        session_id=completion.session_id,
        member_id=completion.member_id,
        agency=completion.agency,
        topic=completion.topic,
        hours=completion.hours,
        completed_on=completion.completed_on,
        recorded_at=completion.recorded_at,
    )
