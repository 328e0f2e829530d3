"""Committing batches in order while the next one is prepared.

Decoding a batch is this process's work and committing it is PostgreSQL's: overlapping the two
keeps both busy. One batch commits at a time and in the order submitted, so the offsets stored
with each batch only ever move forward.
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
