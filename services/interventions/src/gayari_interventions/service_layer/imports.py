"""Importing an agency's spreadsheet: each row recorded through the same use cases as the HTTP
API (service_layer.handlers), once per row reference.

Each row runs in a transaction of its own (several at once, see _batch), so a bad row never
stops the good ones: the row's
receipt (the intake's table, keyed by an id derived from the row's kind and reference) is
claimed with the fingerprint of what the row asks for, then the record is made and linked to
it. A row sent again with the same values changes nothing ("unchanged"); one whose values
changed voids the record it made (reason entered-in-error) and records the new one in the same
transaction ("corrected"), or is refused, with nothing changed, when a rule refuses either.
Households named by KK are found by the keyed hash of the KK (the registry's, with the same
secret): the KK itself goes nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

from gayari_interventions.domain.households import HouseholdNotCurrentError
from gayari_interventions.domain.import_reasons import Reason, cell_reason, rule_reason
from gayari_interventions.domain.import_rows import (
    ParsedRow,
    RowError,
    RowOutcome,
    Source,
    column_of,
    fingerprint,
    parse_row,
    request_of,
    row_external_id,
)
from gayari_interventions.domain.import_templates import ImportKind, Template
from gayari_interventions.domain.rules import ConflictError, ForbiddenError, NotFoundError
from gayari_interventions.domain.voids import VoidRequest
from gayari_interventions.service_layer import handlers
from gayari_interventions.service_layer.handlers import InterventionsDeps
from gayari_interventions.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory
from gayari_shared.hashing import keyed_hash
from gayari_shared.rules import RuleViolationError

# Rows parsed, and their KKs looked up, together: one query per batch instead of per row.
BATCH_ROWS: Final = 200
# Rows of a batch recorded at once, each in its own transaction (of the pool's connections,
# which the HTTP API shares). Rows of one file never share a reference, so they never wait for
# each other, except where the domain serialises them anyway (one session's participants).
ROW_CONCURRENCY: Final = 8


@dataclass(frozen=True, slots=True)
class ImportDeps:
    interventions: InterventionsDeps
    hash_secret: str  # the registry's key of the KK's hash (GAYARI_HASH_SECRET)


@dataclass(frozen=True, slots=True)
class SheetRow:
    """A row of the file: its number in the file, its cells by machine key, and as they were
    (for the result)."""

    number: int
    cells: Mapping[str, object]
    values: Sequence[object]


class _RefusedError(Exception):
    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__("; ".join(e.reason.en for e in errors))
        self.errors = tuple(errors)


class _Recorded(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


# The handler of each kind, called as the HTTP routes call it; its request is the template's
# (Template.request), which request_of built.
Recorder = Callable[[InterventionsDeps, str, Any, str], Awaitable[_Recorded]]
RECORDERS: Final[dict[ImportKind, Recorder]] = {
    "grants": handlers.record_grant,
    "training-sessions": handlers.record_training_session,
    "training-participants": handlers.add_training_participant,
    "training-attendance": handlers.record_training_attendance,
    "training-completions": handlers.record_training_completion,
    "mentoring-visits": handlers.record_mentoring_visit,
    "business-surveys": handlers.record_business_survey,
    "budget-allocations": handlers.record_budget_allocation,
}


def _joined(uow: UnitOfWork) -> UnitOfWorkFactory:
    """A unit of work that is the row's transaction: the handlers' writes commit with the row's
    receipt, or not at all."""

    @asynccontextmanager
    async def joined() -> AsyncIterator[UnitOfWork]:
        yield uow

    return joined


@dataclass(slots=True)
class _Run:
    """One upload: who imports what, and the row references seen so far (with their rows)."""

    deps: ImportDeps
    agency: str
    template: Template
    source: Source
    correlation_id: str
    seen: dict[str, int] = dataclasses.field(default_factory=dict)


async def import_rows(
    deps: ImportDeps,
    agency: str,
    template: Template,
    rows: AsyncIterable[SheetRow],
    *,
    source: Source,
    correlation_id: str,
) -> AsyncIterator[tuple[SheetRow, RowOutcome]]:
    """Each row with what became of it, in the file's order."""
    run = _Run(deps, agency, template, source, correlation_id)
    batch: list[SheetRow] = []
    async for row in rows:
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            for done in await _batch(run, batch):
                yield done
            batch = []
    for done in await _batch(run, batch):
        yield done


async def _batch(run: _Run, rows: list[SheetRow]) -> list[tuple[SheetRow, RowOutcome]]:
    """The rows of a batch: parsed, their KKs looked up at once, then recorded in up to
    ROW_CONCURRENCY transactions at a time (a row's round trips to the database, not its
    work, are most of its time); the outcomes in the file's order."""
    parsed = [parse_row(run.template, row.cells, run.source) for row in rows]
    households = await _households(run.deps, [p.kk for p in parsed if isinstance(p, ParsedRow)])
    slots = asyncio.Semaphore(ROW_CONCURRENCY)

    async def recorded(row: ParsedRow) -> RowOutcome:
        async with slots:
            return await _import_row(run, row, households)

    pending: list[Awaitable[RowOutcome]] = []
    for row, result in zip(rows, parsed, strict=True):
        if isinstance(result, list):
            pending.append(_done(RowOutcome("refused", errors=tuple(result))))
        elif (first := run.seen.get(result.ref)) is not None:
            duplicate = cell_reason("duplicate", str(first))
            pending.append(_done(RowOutcome("refused", errors=(RowError("row_ref", duplicate),))))
        else:
            run.seen[result.ref] = row.number
            pending.append(recorded(result))
    return list(zip(rows, await asyncio.gather(*pending), strict=True))


async def _done(outcome: RowOutcome) -> RowOutcome:
    return outcome


async def _households(deps: ImportDeps, kks: list[str | None]) -> dict[str, list[uuid.UUID]]:
    """The households of these KKs, by KK: looked up by their keyed hashes."""
    hashes = {keyed_hash(deps.hash_secret, kk): kk for kk in kks if kk is not None}
    if not hashes:
        return {}
    work = deps.interventions.statements or deps.interventions.unit_of_work
    async with work() as uow:
        found = await uow.households_by_kk_hash(list(hashes))
    return {hashes[h]: ids for h, ids in found.items()}


def _household_of(row: ParsedRow, households: Mapping[str, list[uuid.UUID]]) -> uuid.UUID | None:
    if row.kk is None:
        return row.household_id
    found = households.get(row.kk, [])
    if len(found) != 1:
        code = "kk-unknown" if not found else "kk-ambiguous"
        raise _RefusedError([RowError("kk", cell_reason(code))])
    return found[0]


async def _import_row(
    run: _Run, row: ParsedRow, households: Mapping[str, list[uuid.UUID]]
) -> RowOutcome:
    if row.example:
        return RowOutcome("skipped", note=Reason("baris contoh", "the template's example row"))
    template = run.template
    try:
        return await _record_row(run, row, _household_of(row, households))
    except _RefusedError as exc:
        return RowOutcome("refused", errors=exc.errors)
    except RuleViolationError as exc:
        column = column_of(template, row, exc.field)
        return RowOutcome("refused", errors=(RowError(column, rule_reason(exc.message)),))
    except HouseholdNotCurrentError as exc:
        column = column_of(template, row, "household_id")
        reason = rule_reason(exc.message, retry=True)
        return RowOutcome("refused", errors=(RowError(column, reason),))
    except (ConflictError, ForbiddenError, NotFoundError) as exc:
        return RowOutcome("refused", errors=(RowError("row", rule_reason(str(exc))),))


async def _record_row(run: _Run, row: ParsedRow, household_id: uuid.UUID | None) -> RowOutcome:
    deps, agency, template, correlation_id = (
        run.deps.interventions,
        run.agency,
        run.template,
        run.correlation_id,
    )
    row_id = row_external_id(template.kind, row.ref)
    record = RECORDERS[template.kind]
    async with deps.unit_of_work() as uow:
        session_id = row.session_id
        if row.session_ref is not None:
            session_row = row_external_id("training-sessions", row.session_ref)
            session_id = await uow.imported_record(session_row, agency, "training-session")
            if session_id is None:
                raise _RefusedError([RowError("session_ref", cell_reason("session-unknown"))])
        request = request_of(template, row, household_id, session_id)
        if isinstance(request, list):
            raise _RefusedError(request)
        said = fingerprint(template.kind, request)
        joined = dataclasses.replace(deps, unit_of_work=_joined(uow), statements=None)
        receipt = await uow.claim_import_row(row_id, agency, f"gayari.import.{template.kind}", said)
        if receipt is None:
            record_id = (await record(joined, agency, request, correlation_id)).id
            await uow.link_intake(row_id, agency, template.intervention_type, record_id)
            return RowOutcome("recorded", record_id)
        if receipt.fingerprint == said:
            return RowOutcome("unchanged", receipt.intervention_id)
        if receipt.intervention_id is not None:
            void = VoidRequest(
                intervention_type=template.intervention_type,
                intervention_id=receipt.intervention_id,
                reason="entered-in-error",
                explanation=f"corrected by the spreadsheet row {row.ref}"[:200],
            )
            # Voided already (by the agency, through the API): nothing to undo.
            with contextlib.suppress(ConflictError):
                await handlers.void_intervention(joined, agency, void, correlation_id)
        record_id = (await record(joined, agency, request, correlation_id)).id
        await uow.relink_import_row(row_id, agency, template.intervention_type, record_id, said)
        note = Reason(
            f"catatan lama {receipt.intervention_id} dibatalkan dan diganti",
            f"the earlier record {receipt.intervention_id} was voided and replaced",
        )
        return RowOutcome("corrected", record_id, note=note)
