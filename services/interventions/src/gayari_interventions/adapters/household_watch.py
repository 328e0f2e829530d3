"""Waiting, briefly, for this service's view of a household to reach the registry's version a
client names (Gayari-Household-Version).

The consumer of the registry's events notifies HOUSEHOLDS_CHANNEL in the transaction that
applies a batch; one listening connection per process wakes every waiting request, which reads
its household's version again. The notification only makes the wait short: a waiter also looks
again every `poll_interval_s`, so a lost listening connection (a database restart) makes waits
slower, never wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
import structlog

from gayari_interventions.adapters.postgres import HOUSEHOLDS_CHANNEL

log = structlog.get_logger(__name__)


class HouseholdWatch:
    def __init__(self, pool: asyncpg.Pool, *, poll_interval_s: float = 0.1) -> None:
        self._pool = pool
        self._poll_interval_s = poll_interval_s
        self._changed = asyncio.Event()
        self._listener: Any = None  # the pool's connection proxy, held while started

    async def start(self) -> None:
        listener = await self._pool.acquire()
        try:
            await listener.add_listener(HOUSEHOLDS_CHANNEL, self._on_notify)
        except BaseException:
            await self._pool.release(listener)
            raise
        self._listener = listener

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        with contextlib.suppress(Exception):
            await listener.remove_listener(HOUSEHOLDS_CHANNEL, self._on_notify)
        with contextlib.suppress(Exception):
            await self._pool.release(listener)

    def _on_notify(self, *_: object) -> None:
        # Wake everyone waiting now; later waiters wait on a fresh event.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def reached(self, household_id: uuid.UUID, version: int) -> bool:
        return bool(
            await self._pool.fetchval(
                """SELECT EXISTS (SELECT FROM known_households
                                  WHERE household_id = $1 AND registry_version >= $2)""",
                household_id,
                version,
            )
        )

    async def wait_for(self, household_id: uuid.UUID, version: int, timeout_s: float) -> bool:
        """Whether this service knows the household at `version` or later, waiting up to
        `timeout_s` for it. Holds no connection while it waits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            # Taken before reading, so a notification between the read and the wait counts.
            changed = self._changed
            if await self.reached(household_id, version):
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.info(
                    "household version not reached",
                    household_id=str(household_id),
                    version=version,
                    waited_s=timeout_s,
                )
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, self._poll_interval_s)):
                    await changed.wait()
