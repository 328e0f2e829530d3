"""The intake refusals counted for /data-quality, stored (entrypoints/refusal_counter.py reads
them from the dead-letter topic).

Each refusal is a row keyed by the refused record's position in its intake topic, written with
ON CONFLICT DO NOTHING before the consumer commits its offsets in Kafka: a dead letter read
twice (a restart before the commit) or written twice (intake retried after the broker took
it) counts once. The table lives beside the read-model generations, not in them: the
dead-letter topic is not a domain stream, a replay does not read it, and its counts do not
depend on the read models, so a replay leaves them as they are.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from gayari_reporting.domain.refusals import Refusal
from gayari_shared.migrations import MigrationSet

# Its table, in `public` beside the generations (gayari_reporting/migrations/refusals).
REFUSALS: Final = MigrationSet.from_package(
    "reporting-refusals", "gayari_reporting", "migrations/refusals"
)
_INSERT: Final = """
    INSERT INTO public.intake_refusals (source_topic, source_partition, source_offset, agency,
                                        reason_code, reason, event_id, refused_at)
    SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::timestamptz[])
    ON CONFLICT DO NOTHING"""


async def store_refusals(pool: asyncpg.Pool, refusals: list[Refusal]) -> None:
    if not refusals:
        return
    columns = list(
        zip(
            *(
                (
                    r.source_topic,
                    r.source_partition,
                    r.source_offset,
                    r.agency,
                    r.reason_code,
                    r.reason,
                    r.event_id,
                    r.refused_at,
                )
                for r in refusals
            ),
            strict=True,
        )
    )
    await pool.execute(_INSERT, *[list(c) for c in columns])
