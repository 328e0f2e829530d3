"""The interventions' unit of work in memory (service_layer.unit_of_work.UnitOfWork)."""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TypeVar

from pydantic import BaseModel

from gayari_interventions.domain.budget import BudgetAllocation
from gayari_interventions.domain.grants import Grant
from gayari_interventions.domain.households import (
    HouseholdChanges,
    KnownHousehold,
    merge_household,
)
from gayari_interventions.domain.import_rows import ImportReceipt
from gayari_interventions.domain.intake import IntakeRejectionRecord
from gayari_interventions.domain.monitoring import BusinessSurvey, MentoringVisit
from gayari_interventions.domain.records import (
    RECORD_MODELS,
    ListedKind,
    Recordable,
    RecordFilter,
    StoredRecord,
)
from gayari_interventions.domain.training import (
    Attendance,
    Participant,
    TrainingCompletion,
    TrainingSession,
)
from gayari_interventions.domain.voids import Void, VoidTarget
from gayari_shared.events.contracts import HouseholdEnrolledV1, HouseholdRegisteredV1
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.interventions import InterventionType

R = TypeVar("R", bound=Recordable)

TYPE_OF: Final[dict[type[BaseModel], InterventionType]] = {
    Grant: "grant",
    TrainingSession: "training-session",
    Participant: "training-participant",
    Attendance: "training-attendance",
    TrainingCompletion: "training-completion",
    MentoringVisit: "mentoring-visit",
    BusinessSurvey: "business-survey",
    BudgetAllocation: "budget-allocation",
}
_START: Final = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass
class InterventionsState:
    """What the interventions' database holds, as far as the use cases can tell."""

    households: dict[uuid.UUID, KnownHousehold] = field(default_factory=dict)
    # Every record by id (grants, sessions, participants, attendance, ...), and when it last
    # changed (recorded, or voided since).
    records: dict[uuid.UUID, BaseModel] = field(default_factory=dict)
    changed_at: dict[uuid.UUID, datetime] = field(default_factory=dict)
    voids: dict[tuple[InterventionType, uuid.UUID], Void] = field(default_factory=dict)
    events: list[tuple[Envelope, str]] = field(default_factory=list)  # the outbox
    # (event id, agency) -> (event type, the record it made: (type, id), or None yet)
    receipts: dict[tuple[uuid.UUID, str], tuple[str, tuple[InterventionType, uuid.UUID] | None]] = (
        field(default_factory=dict)
    )
    rejections: dict[tuple[str, int, int], IntakeRejectionRecord] = field(default_factory=dict)
    # (event id, agency) of an imported row -> what the row asked for (its fingerprint)
    fingerprints: dict[tuple[uuid.UUID, str], str] = field(default_factory=dict)
    # KK hash -> the households registered with it
    kk_hashes: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    clock: int = 0

    def tick(self) -> datetime:
        """A strictly later moment at every call (clock_timestamp())."""
        self.clock += 1
        return _START + timedelta(milliseconds=self.clock)

    def live(self, record: BaseModel) -> bool:
        return (TYPE_OF[type(record)], getattr(record, "id")) not in self.voids  # noqa: B009

    def of_type(self, kind: type[BaseModel]) -> list[Any]:
        return [r for r in self.records.values() if type(r) is kind and self.live(r)]


class FakeInterventionsUnitOfWork:
    def __init__(self, state: InterventionsState) -> None:
        self.state = state
        self.staged = False
        self.recorded: tuple[InterventionType, uuid.UUID] | None = None

    # -- households ------------------------------------------------------------------------

    async def known_household(self, household_id: uuid.UUID) -> KnownHousehold | None:
        return self.state.households.get(household_id)

    async def learn_households(self, changes: Mapping[uuid.UUID, HouseholdChanges]) -> int:
        changed = 0
        for household_id, change in changes.items():
            merged = merge_household(self.state.households.get(household_id), change)
            if merged is not None:
                self.state.households[household_id] = merged[0]
                changed += 1
        return changed

    # -- records ---------------------------------------------------------------------------

    async def record(self, record: Recordable, envelope: Envelope, stream: str) -> bool:
        self._add(record)
        await self.publish(envelope, stream)
        self.recorded = (TYPE_OF[type(record)], record.id)
        return True

    async def record_decided(
        self,
        household_id: uuid.UUID | None,
        decide: Callable[[KnownHousehold | None], tuple[R, Envelope, str]],
    ) -> R:
        household = None if household_id is None else self.state.households.get(household_id)
        record, envelope, stream = decide(household)
        await self.record(record, envelope, stream)
        return record

    async def publish(self, envelope: Envelope, stream: str) -> None:
        self.state.events.append((envelope, stream))
        self.staged = True

    def _add(self, record: BaseModel) -> None:
        record_id: uuid.UUID = getattr(record, "id")  # noqa: B009
        if record_id in self.state.records:
            raise AssertionError(f"record {record_id} written twice")
        self.state.records[record_id] = record
        self.state.changed_at[record_id] = self.state.tick()

    # -- training --------------------------------------------------------------------------

    async def live_session(self, session_id: uuid.UUID) -> TrainingSession | None:
        session = self.state.records.get(session_id)
        if isinstance(session, TrainingSession) and self.state.live(session):
            return session
        return None

    async def live_participant(
        self, session_id: uuid.UUID, household_id: uuid.UUID, member_id: uuid.UUID
    ) -> Participant | None:
        participants: list[Participant] = self.state.of_type(Participant)
        return next(
            (
                p
                for p in participants
                if (p.session_id, p.household_id, p.member_id)
                == (session_id, household_id, member_id)
            ),
            None,
        )

    async def attended(self, participant: Participant | None, day: date) -> bool:
        attendance: list[Attendance] = self.state.of_type(Attendance)
        return participant is not None and any(
            a.participant_id == participant.id and a.attended_on == day for a in attendance
        )

    async def add_attendance(self, attendance: Attendance) -> None:
        self._add(attendance)

    async def completed(self, participant: Participant | None) -> bool:
        completions: list[TrainingCompletion] = self.state.of_type(TrainingCompletion)
        return participant is not None and any(
            c.participant_id == participant.id for c in completions
        )

    async def add_training_completion(self, completion: TrainingCompletion) -> None:
        self._add(completion)

    # -- voids -----------------------------------------------------------------------------

    async def void_target(self, kind: InterventionType, record_id: uuid.UUID) -> VoidTarget | None:
        record = self.state.records.get(record_id)
        if record is None or TYPE_OF[type(record)] != kind:
            return None
        return VoidTarget(
            id=record_id,
            agency=getattr(record, "agency"),  # noqa: B009
            household_id=getattr(record, "household_id", None),
            voided=(kind, record_id) in self.state.voids,
        )

    async def void_target_by_external_id(
        self, kind: InterventionType, agency: str, external_id: uuid.UUID
    ) -> VoidTarget | None:
        receipt = self.state.receipts.get((external_id, agency))
        if receipt is None or receipt[1] is None or receipt[1][0] != kind:
            return None
        return await self.void_target(kind, receipt[1][1])

    async def add_void(self, void: Void) -> None:
        key = (void.intervention_type, void.intervention_id)
        if key in self.state.voids:
            raise AssertionError(f"{key} voided twice")  # the table's unique constraint
        self.state.voids[key] = void
        self.state.changed_at[void.intervention_id] = self.state.tick()

    # -- reading records back --------------------------------------------------------------

    async def records(
        self, kind: ListedKind, query: RecordFilter, record_id: uuid.UUID | None = None
    ) -> list[StoredRecord]:
        if (query.date_from, query.date_to, query.changed_since) != (None, None, None):
            raise NotImplementedError("date filters: see the integration tests")
        model = RECORD_MODELS[kind]
        external = {
            made[1]: event_id
            for (event_id, _), (_, made) in self.state.receipts.items()
            if made is not None and made[0] == kind
        }
        found = []
        for rid, record in self.state.records.items():
            if TYPE_OF[type(record)] != kind:
                continue
            fields = record.model_dump()
            if record_id is not None and rid != record_id:
                continue
            if query.agency is not None and fields["agency"] != query.agency:
                continue
            if query.household_id is not None and fields.get(
                "household_id", query.household_id
            ) != (query.household_id):
                continue
            if query.external_id is not None and external.get(rid) != query.external_id:
                continue
            changed_at = self.state.changed_at[rid]
            if query.after is not None and (changed_at, rid) <= (
                query.after.changed_at,
                query.after.id,
            ):
                continue
            void = self.state.voids.get((kind, rid))
            found.append(
                model.model_validate(
                    fields
                    | {
                        "changed_at": changed_at,
                        "external_id": external.get(rid),
                        "void": None
                        if void is None
                        else {"id": void.id, "reason": void.reason, "voided_at": void.voided_at},
                    }
                )
            )
        found.sort(key=lambda r: (r.changed_at, r.id))
        return found[: query.limit + 1]

    # -- intake ----------------------------------------------------------------------------

    async def claim_intake(self, event_id: uuid.UUID, agency: str, event_type: str) -> bool:
        if (event_id, agency) in self.state.receipts:
            return False
        self.state.receipts[(event_id, agency)] = (event_type, None)
        return True

    async def link_intake(
        self, event_id: uuid.UUID, agency: str, kind: InterventionType, record_id: uuid.UUID
    ) -> None:
        event_type, _ = self.state.receipts[(event_id, agency)]
        self.state.receipts[(event_id, agency)] = (event_type, (kind, record_id))

    async def record_rejection(self, rejection: IntakeRejectionRecord) -> None:
        key = (rejection.topic, rejection.partition, rejection.offset)
        self.state.rejections.setdefault(key, rejection)

    # -- spreadsheet imports -----------------------------------------------------------------

    async def households_by_kk_hash(self, hashes: list[str]) -> dict[str, list[uuid.UUID]]:
        return {h: self.state.kk_hashes[h] for h in hashes if h in self.state.kk_hashes}

    async def claim_import_row(
        self, row_id: uuid.UUID, agency: str, event_type: str, fingerprint: str
    ) -> ImportReceipt | None:
        if await self.claim_intake(row_id, agency, event_type):
            self.state.fingerprints[(row_id, agency)] = fingerprint
            return None
        _, made = self.state.receipts[(row_id, agency)]
        return ImportReceipt(
            self.state.fingerprints.get((row_id, agency)),
            None if made is None else made[0],
            None if made is None else made[1],
        )

    async def relink_import_row(
        self,
        row_id: uuid.UUID,
        agency: str,
        kind: InterventionType,
        record_id: uuid.UUID,
        fingerprint: str,
    ) -> None:
        await self.link_intake(row_id, agency, kind, record_id)
        self.state.fingerprints[(row_id, agency)] = fingerprint

    async def imported_record(
        self, row_id: uuid.UUID, agency: str, kind: InterventionType
    ) -> uuid.UUID | None:
        receipt = self.state.receipts.get((row_id, agency))
        made = None if receipt is None else receipt[1]
        return made[1] if made is not None and made[0] == kind else None

    async def rejection_counts(self) -> list[tuple[str, str, int]]:
        counts = Counter((r.agency, r.code) for r in self.state.rejections.values())
        return [(agency, code, n) for (agency, code), n in sorted(counts.items())]


class FakeInterventions:
    """The unit-of-work factory of InterventionsDeps: a unit of work is one transaction, its
    writes undone when it raises."""

    def __init__(self) -> None:
        self.state = InterventionsState()
        self.units = 0
        self.rollbacks = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[FakeInterventionsUnitOfWork]:
        before = {name: copy.copy(value) for name, value in vars(self.state).items()}
        self.units += 1
        try:
            yield self.make_unit()
        except BaseException:
            vars(self.state).update(before)
            self.rollbacks += 1
            raise

    def make_unit(self) -> FakeInterventionsUnitOfWork:
        return FakeInterventionsUnitOfWork(self.state)


# -- the registry's events, as the fakes' households learn them ---------------------------------


def registered(
    household_id: uuid.UUID, member: uuid.UUID, at: datetime, version: int = 1
) -> HouseholdRegisteredV1:
    return HouseholdRegisteredV1(
        household_id=household_id,
        village_code="62.09.01.2001",
        welfare_decile=2,
        member_count=1,
        kk_hash="ab" * 32,
        registered_at=at,
        member_ids=[member],
        household_version=version,
    )


def enrolled(household_id: uuid.UUID, at: datetime, version: int = 2) -> HouseholdEnrolledV1:
    return HouseholdEnrolledV1(
        household_id=household_id,
        cohort_year=at.year,
        enrolling_agency="dinsos",
        enrolled_at=at,
        household_version=version,
    )
