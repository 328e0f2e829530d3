"""The garbage collector, set for long-running services and their batch workers. Kept apart
from runtime.py, so that a replay worker gets it without importing a web server."""

from __future__ import annotations

import gc
from typing import Final

# See `collect_less_often`.
BATCH_THRESHOLDS: Final = (20_000, 20, 20)


def freeze_startup_heap() -> None:
    """Call when a service has started: what it built so far (its app, reference data, clients)
    lives as long as the process, so one full collection now, and the collector never scans it
    again. Otherwise every full collection walks it all (tens of milliseconds with the area
    codes loaded, over a hundred with FastStream), stalling each request in flight."""
    gc.collect()
    gc.freeze()


def collect_less_often() -> None:
    """For a process that holds batches of thousands of decoded events (the reporting
    projector, replay workers). By default a full collection comes every 70,000 or so
    allocations and walks whatever is alive then, which while the projector catches up is
    three batches in flight: 54 full collections of 40 ms each per 300,000 events, 15 % of the
    process's CPU (measured with gc.callbacks). At these thresholds young collections come
    every 20,000 allocations and a full one every 8 million or so; cycles are still
    collected, only later. 300,000 events: 14.2 s of CPU and 20,000 events/s before, 12.5 s
    and 23,200/s after. The HTTP services keep the defaults: what a request allocates dies
    young, and a larger young generation would only make each pause longer."""
    gc.set_threshold(*BATCH_THRESHOLDS)
