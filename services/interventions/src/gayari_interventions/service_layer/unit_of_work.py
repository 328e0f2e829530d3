"""What the use cases need of storage: a unit of work, as a Protocol.

The use cases depend on this, not on PostgreSQL: adapters.postgres implements it over a
connection (one transaction, or statements each atomic by itself), and the unit tests' fakes
(tests/unit/fakes) implement it in memory, so every use case is tested without a database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import date
from typing import Protocol, TypeVar

from gayari_interventions.domain.households import HouseholdChanges, KnownHousehold
from gayari_interventions.domain.import_rows import ImportReceipt
from gayari_interventions.domain.intake import IntakeRejectionRecord
from gayari_interventions.domain.records import ListedKind, Recordable, RecordFilter, StoredRecord
from gayari_interventions.domain.training import (
    Attendance,
    Participant,
    TrainingCompletion,
    TrainingSession,
)
from gayari_interventions.domain.voids import Void, VoidTarget
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.interventions import InterventionType

R = TypeVar("R", bound=Recordable)

# A record decided on its household as the unit of work found it (None for a record of the
# agency alone, or a household not known here), with its event's envelope and stream.
Decide = Callable[[KnownHousehold | None], tuple[R, Envelope, str]]


class UnitOfWork(Protocol):
    """One unit: the records and the events they cause are kept together or not at all."""

    # The last record written by `record` or `record_decided`: (its type, its id).
    recorded: tuple[InterventionType, uuid.UUID] | None

    # -- the households, as the registry's events tell them ---------------------------------

    async def known_household(self, household_id: uuid.UUID) -> KnownHousehold | None:
        """The household, held until the unit ends: an exit arriving meanwhile waits."""

    async def learn_households(self, changes: Mapping[uuid.UUID, HouseholdChanges]) -> int:
        """Merge a batch of the registry's events, folded per household; how many changed."""

    # -- a record and its event ---------------------------------------------------------------

    async def record(self, record: Recordable, envelope: Envelope, stream: str) -> bool:
        """The record and its event, together."""

    async def record_decided(self, household_id: uuid.UUID | None, decide: Decide[R]) -> R:
        """Decide a record on its household (`household_id`, or None for the agency's own) and
        write it with its event; the household cannot change between the two (an exit is
        applied before or after, never in between). Raises what `decide` raises."""

    async def publish(self, envelope: Envelope, stream: str) -> None:
        """An event, written with the unit's other writes."""

    # -- training ---------------------------------------------------------------------------

    async def live_session(self, session_id: uuid.UUID) -> TrainingSession | None:
        """The session unless voided, held until the unit ends (its participants one by one)."""

    async def live_participant(
        self, session_id: uuid.UUID, household_id: uuid.UUID, member_id: uuid.UUID
    ) -> Participant | None:
        """The member's live participation in the session, held until the unit ends."""

    async def attended(self, participant: Participant | None, day: date) -> bool: ...

    async def add_attendance(self, attendance: Attendance) -> None: ...

    async def completed(self, participant: Participant | None) -> bool: ...

    async def add_training_completion(self, completion: TrainingCompletion) -> None: ...

    # -- voids --------------------------------------------------------------------------------

    async def void_target(
        self, kind: InterventionType, record_id: uuid.UUID
    ) -> VoidTarget | None: ...

    async def void_target_by_external_id(
        self, kind: InterventionType, agency: str, external_id: uuid.UUID
    ) -> VoidTarget | None:
        """The record of `kind` that `agency`'s system sent with this CloudEvents id."""

    async def add_void(self, void: Void) -> None: ...

    # -- reading records back -----------------------------------------------------------------

    async def records(
        self, kind: ListedKind, query: RecordFilter, record_id: uuid.UUID | None = None
    ) -> list[StoredRecord]:
        """Up to `query.limit + 1` records (one more than a page), in keyset order."""

    # -- intake from agency systems -----------------------------------------------------------

    async def claim_intake(self, event_id: uuid.UUID, agency: str, event_type: str) -> bool:
        """False when this agency's event id was taken before."""

    async def link_intake(
        self, event_id: uuid.UUID, agency: str, kind: InterventionType, record_id: uuid.UUID
    ) -> None:
        """The claimed event made this record: it is found, and voided, by that id."""

    async def record_rejection(self, rejection: IntakeRejectionRecord) -> None:
        """Counted once per source record."""

    async def rejection_counts(self) -> list[tuple[str, str, int]]:
        """(agency, reason code, count), in that order."""

    # -- spreadsheet imports (service_layer.imports) --------------------------------------------

    async def households_by_kk_hash(self, hashes: list[str]) -> dict[str, list[uuid.UUID]]:
        """The households known by each keyed hash of a KK."""

    async def claim_import_row(
        self, row_id: uuid.UUID, agency: str, event_type: str, fingerprint: str
    ) -> ImportReceipt | None:
        """None when the row is new (claimed now, with its fingerprint); else its receipt,
        held until the unit ends."""

    async def relink_import_row(
        self,
        row_id: uuid.UUID,
        agency: str,
        kind: InterventionType,
        record_id: uuid.UUID,
        fingerprint: str,
    ) -> None:
        """A corrected row now names its new record, and what it says now."""

    async def imported_record(
        self, row_id: uuid.UUID, agency: str, kind: InterventionType
    ) -> uuid.UUID | None:
        """The record of `kind` the agency's imported row made (its latest)."""


UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
