"""How the projector splits a batch into lanes, and how lanes commit side by side."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from gayari_reporting.adapters.decoding import Fetched
from gayari_reporting.domain.consumed import Batch, ConsumedRecord, Rejected
from gayari_reporting.entrypoints.commit_lanes import Lanes
from gayari_reporting.entrypoints.projector import split_into_lanes


def fetch_of(sizes: dict[tuple[str, int], int], rejected_every: int = 0) -> tuple[Fetched, Batch]:
    fetched: Fetched = {
        TopicPartition(t, p): [
            ConsumerRecord(t, p, 100 + o, 0, 0, b"k", b"v", None, 1, 1, []) for o in range(n)
        ]
        for (t, p), n in sizes.items()
    }

    def outcome(o: int) -> Rejected | None:
        return Rejected(f"bad {o}") if rejected_every and o % rejected_every == 0 else None

    batch: Batch = {
        key: [ConsumedRecord(100 + o, outcome(o)) for o in range(n)] for key, n in sizes.items()
    }
    return fetched, batch


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("lanes", [1, 2, 3, 4])
def test_a_partition_index_always_goes_to_the_same_lane_and_nothing_is_lost(
    seed: int, lanes: int
) -> None:
    rng = random.Random(seed)
    sizes = {
        (topic, p): rng.choice((0, 1, rng.randint(1, 50)))
        for topic in ("households", "interventions")
        for p in range(6)
    }
    fetched, batch = fetch_of(sizes, rejected_every=7)
    parts = split_into_lanes(fetched, batch, lanes)

    assert len(parts) == lanes
    for lane, part in enumerate(parts):
        assert {tp.partition % lanes for tp in part.ends} <= {lane}
        assert set(part.batch) == {(tp.topic, tp.partition) for tp in part.ends}
        for tp, (end, count) in part.ends.items():
            key = (tp.topic, tp.partition)
            assert part.batch[key] is batch[key]
            assert (end, count) == (100 + sizes[key], sizes[key])
        assert [
            (tp.partition % lanes, raw.offset, why.reason) for tp, raw, why in part.rejected
        ] == [
            (lane, 100 + o, f"bad {o}")
            for tp in fetched
            if tp in part.ends
            for o in range(0, sizes[(tp.topic, tp.partition)], 7)
        ]
    placed = sorted((tp.topic, tp.partition) for part in parts for tp in part.ends)
    assert placed == sorted(key for key, n in sizes.items() if n), "each non-empty part once"


async def test_lanes_commit_in_order_within_a_lane_and_side_by_side_across() -> None:
    committed: list[tuple[int, int]] = []
    running: set[int] = set()
    overlapped = asyncio.Event()

    async def commit(work: tuple[int, int]) -> None:
        lane, _ = work
        running.add(lane)
        if len(running) > 1:
            overlapped.set()
        await asyncio.sleep(random.uniform(0, 0.005))
        committed.append(work)
        running.discard(lane)

    lanes: Lanes[tuple[int, int]] = Lanes(3, commit, depth=2)
    try:
        for n in range(30):
            for lane in range(3):
                await lanes.submit(lane, (lane, n))
        await lanes.drain()
    finally:
        lanes.cancel()
    for lane in range(3):
        assert [n for k, n in committed if k == lane] == list(range(30))
    assert overlapped.is_set(), "lanes never committed at the same time"


async def test_a_failed_batch_stops_its_lane_and_the_failure_is_raised() -> None:
    committed: list[tuple[int, int]] = []

    async def commit(work: tuple[int, int]) -> None:
        if work == (0, 1):
            raise RuntimeError("database refused")
        committed.append(work)

    lanes: Lanes[tuple[int, int]] = Lanes(2, commit, depth=5)
    try:
        for n in range(4):
            await lanes.submit(0, (0, n))
        with pytest.raises(RuntimeError, match="database refused"):
            await lanes.drain()
        with pytest.raises(RuntimeError, match="database refused"):
            await lanes.submit(1, (1, 0))
    finally:
        lanes.cancel()
    # Batches 2 and 3 would have stored offsets past batch 1's records, never written.
    assert committed == [(0, 0)]
