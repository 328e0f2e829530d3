"""Where every report reads: one consistent snapshot of a read-model generation.

Each report reads one snapshot (REPEATABLE READ), so the figures of one response agree with each
other even while the projector commits batches. Filters become bound parameters, never text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from gayari_reporting.adapters.generations import (
    UnknownGenerationError,
    use_active,
    use_snapshot,
)
from gayari_reporting.adapters.tallies import LEVELS
from gayari_reporting.domain.filters import Filters
from gayari_shared.postgres import Connection

# For this transaction only. The read models are small enough to stay in memory, where an index
# probe costs about what a sequential read does; with the default random_page_cost (4, disks)
# the planner reads all of a million records to join them to one district's households instead
# of following the district's households to their records. JIT compilation costs more than it
# saves on aggregates of this size: compiling takes longer than the query.
_PLANNER = "SET LOCAL random_page_cost = 1.1; SET LOCAL jit = off"


def tallied_area(filters: Filters) -> str | None:
    """The one area the filters narrow to ('' for none) if it is tallied; None otherwise."""
    if not filters.areas:
        return ""
    deepest = max(filters.areas, key=len)
    if not all(deepest == code or deepest.startswith(code + ".") for code in filters.areas):
        return None  # areas that do not nest: nothing is in all of them; the facts say so
    return deepest if len(deepest) in LEVELS else None


class Snapshots:
    """The read models' database, read one snapshot at a time.

    `kept`: whether the reports may read what the projector keeps beside the facts (the
    tallies, the per-household rows); without, every figure is counted from the facts (the
    tests compare both)."""

    def __init__(self, pool: asyncpg.Pool, *, kept: bool = True) -> None:
        self.pool = pool
        self.kept = kept

    def tallied(self, filters: Filters) -> str | None:
        """The tallied area the filters narrow to, if the tallies may be read; else None."""
        return tallied_area(filters) if self.kept else None

    @asynccontextmanager
    async def snapshot(self, generation: str | None = None) -> AsyncIterator[Connection]:
        """One consistent read of the active generation, or of a finished "as of" one."""
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            if generation is None:
                if await use_active(conn) is None:
                    raise UnknownGenerationError("no active read-model generation")
            elif not await use_snapshot(conn, generation):
                raise UnknownGenerationError(f"no finished as-of report is called {generation}")
            await conn.execute(_PLANNER)
            yield conn
