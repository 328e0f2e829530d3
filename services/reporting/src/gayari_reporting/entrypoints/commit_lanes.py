"""Committing batches in order while the next one is prepared.

Decoding a batch is this process's work and committing it is PostgreSQL's: overlapping the two
keeps both busy. Within a stream of batches one commits at a time and in the order submitted,
so the offsets stored with each batch only ever move forward.

`InOrderCommits` is one such stream with nothing waiting behind the batch in flight (the replay's
workers, whose memory is the batch in flight and the one being decoded); `Lanes` is several
streams side by side, each with batches waiting (the live projector, one stream per share of the
partitions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

B = TypeVar("B")


class InOrderCommits(Generic[B]):
    """One batch committing at a time, in order, while the caller prepares the next."""

    def __init__(self, commit: Callable[[B], Awaitable[object]]) -> None:
        self._commit = commit
        self._pending: asyncio.Future[object] | None = None

    async def submit(self, batch: B) -> None:
        await self.drain()
        self._pending = asyncio.ensure_future(self._commit(batch))

    async def drain(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()


class Lanes(Generic[B]):
    """Batches committed in independent lanes, side by side: each lane commits its own batches
    one at a time and in the order submitted, with up to `depth` more waiting, so the caller
    blocks only when the lane it submits to is that far behind.

    A batch that fails stops its lane for good: a later batch of the lane would store offsets
    past records never written. What is still queued is dropped, and `submit` and `drain`
    raise the failure."""

    def __init__(self, count: int, commit: Callable[[B], Awaitable[object]], depth: int = 1):
        self._commit = commit
        self._queues: list[asyncio.Queue[B]] = [asyncio.Queue(maxsize=depth) for _ in range(count)]
        self._tasks = [asyncio.ensure_future(self._run(queue)) for queue in self._queues]
        self._failure: BaseException | None = None

    async def submit(self, lane: int, batch: B) -> None:
        self._raise_failure()
        await self._queues[lane].put(batch)

    async def drain(self) -> None:
        """Until every batch submitted so far has committed (or was dropped after a failure)."""
        for queue in self._queues:
            await queue.join()
        self._raise_failure()

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _run(self, queue: asyncio.Queue[B]) -> None:
        failed = False
        while True:
            batch = await queue.get()
            try:
                if not failed:
                    await self._commit(batch)
            except Exception as exc:
                failed = True
                self._failure = self._failure or exc
            finally:
                queue.task_done()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
