"""The write side: a batch of Kafka records into the read models, in one transaction.

The stages, in order (the file doing each in brackets):
1. decode           a record to the fact it adds, or a refusal (adapters/decoding.py; the
                    entrypoint decodes as it fetches, before the batch comes here);
2. skip seen        records below a partition's stored offset, projected by its earlier owner;
3. fold             the facts into one row per key (domain/batch.py);
4. retract          the tallies' contribution of every household the batch touches, as it was
                    (adapters/tallies.py);
5. write            facts, household state and refused records (adapters/fact_tables.py);
6. contribute       those households' contribution computed afresh, netted with what retract
                    took, and their per-household rows (adapters/tallies.py,
                    household_rows.py, income_pairs.py);
7. advance offsets  each partition's next offset (adapters/store.py).

All in one transaction (adapters/store.py, `ReadModelStore.transaction`): facts, tallies and
offsets commit together or not at all, so a crash or a rebalance neither loses nor repeats an
event. A tally is never incremented by an event: retract and contribute make each household's
share a function of its facts, whatever order they came in.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from gayari_reporting.domain import batch as folding
from gayari_reporting.domain.batch import BatchWrites
from gayari_reporting.domain.consumed import BatchResult, ConsumedRecord, PartitionKey, Rejected
from gayari_reporting.domain.projection import Fact


class BatchTransaction(Protocol):
    async def lock_offsets(
        self, group: str, keys: Sequence[PartitionKey]
    ) -> dict[PartitionKey, int]: ...
    async def serialise_households(self, group: str, partitions: Iterable[int]) -> None: ...
    async def voided_households(self, writes: BatchWrites) -> set[uuid.UUID]: ...
    async def retract(
        self, households: Collection[uuid.UUID], agencies: Collection[str]
    ) -> None: ...
    async def write(
        self, writes: BatchWrites, rejected: Sequence[tuple[str, int, int, str]]
    ) -> None: ...
    async def contribute(self, households: Collection[uuid.UUID]) -> None: ...
    async def refresh_incomes(self, households: Collection[uuid.UUID]) -> None: ...
    async def advance_offsets(
        self, group: str, advanced: Sequence[tuple[str, int, int]]
    ) -> None: ...


class BatchStore(Protocol):
    def transaction(
        self, schema: str | None = None, *, building: bool = False
    ) -> AbstractAsyncContextManager[BatchTransaction]: ...


async def project(
    store: BatchStore,
    group: str,
    batch: Mapping[PartitionKey, Sequence[ConsumedRecord]],
    *,
    schema: str | None = None,
    building: bool = False,
    tally: bool = True,
) -> BatchResult:
    """Project a batch into `schema` (None: whichever generation is active; the active one
    unless `building`, see `ReadModelStore.transaction`). Without `tally` the tallies are left
    alone (a replay's bulk rebuilds them at the end)."""
    keys = sorted(k for k, records in batch.items() if records)
    async with store.transaction(schema, building=building) as tx:
        unseen = skip_seen(batch, keys, await tx.lock_offsets(group, keys))
        writes = folding.fold(unseen.facts())
        households: set[uuid.UUID] = set()
        voided: set[uuid.UUID] = set()
        if tally:
            households, voided = await retract(tx, group, keys, writes)
        await tx.write(writes, unseen.rejected)
        await contribute(tx, households, folding.surveyed(writes, voided) if tally else set())
        await tx.advance_offsets(group, unseen.advanced)
    return BatchResult(unseen.applied, unseen.skipped)


@dataclass(slots=True)
class Unseen:
    """What a batch has that no earlier batch projected."""

    applied: list[ConsumedRecord] = field(default_factory=list)
    rejected: list[tuple[str, int, int, str]] = field(default_factory=list)  # with the reason
    advanced: list[tuple[str, int, int]] = field(default_factory=list)  # next offsets
    skipped: int = 0

    def facts(self) -> Iterator[Fact]:
        return (r.outcome for r in self.applied if not isinstance(r.outcome, Rejected | None))


def skip_seen(
    batch: Mapping[PartitionKey, Sequence[ConsumedRecord]],
    keys: Sequence[PartitionKey],
    stored: Mapping[PartitionKey, int],
) -> Unseen:
    """Records below the stored offset were projected by an earlier owner of the partition (a
    rebalance raced this batch): never apply them twice."""
    unseen = Unseen()
    for key in keys:
        records = batch[key]
        fresh = [r for r in records if r.offset >= stored[key]]
        unseen.skipped += len(records) - len(fresh)
        if not fresh:
            continue
        unseen.applied.extend(fresh)
        unseen.rejected.extend(
            (*key, r.offset, r.outcome.reason) for r in fresh if isinstance(r.outcome, Rejected)
        )
        unseen.advanced.append((*key, fresh[-1].offset + 1))
    return unseen


async def retract(
    tx: BatchTransaction, group: str, keys: Sequence[PartitionKey], writes: BatchWrites
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Take out the contribution of every household the batch touches; return those, and the
    households of the records it voids (known only from the stored records)."""
    await tx.serialise_households(group, (p for _, p in keys))
    voided = await tx.voided_households(writes)
    households = folding.touched(writes) | voided
    await tx.retract(households, folding.agencies(writes))
    return households, voided


async def contribute(
    tx: BatchTransaction, households: Collection[uuid.UUID], surveyed: Collection[uuid.UUID]
) -> None:
    """Add the households' contribution computed afresh from the facts just written, and
    bring their first and latest survey incomes up to date."""
    await tx.contribute(households)
    await tx.refresh_incomes(surveyed)
