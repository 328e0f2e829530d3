"""The garbage collector, set for long-running services and their batch workers. Kept apart
from runtime.py, so that a replay worker gets it without importing a web server."""

from __future__ import annotations

import gc
from typing import Final

# See `collect_less_often`.
THRESHOLDS: Final = (20_000, 20, 20)


def freeze_startup_heap() -> None:
    """Call when a service has started: what it built so far (its app, reference data, clients)
    lives as long as the process, so one full collection now, and the collector never scans it
    again. Otherwise every full collection walks it all (tens of milliseconds with the area
    codes loaded, over a hundred with FastStream), stalling each request in flight."""
    gc.collect()
    gc.freeze()


def collect_less_often() -> None:
    """For every long-running process here. By default a young collection comes every 700
    allocations and a full one every 70,000 or so, walking whatever is alive then.

    - The reporting projector and the replay workers hold up to three batches of decoded
      events, so each full collection walks all of them.
    - The HTTP services allocate thousands of objects per request, with dozens of requests in
      flight.

    At these thresholds young collections come every 20,000 allocations and a full one every
    8 million or so; cycles are still collected, only later. What the default thresholds cost
    each: docs/performance.md, "Measurements behind the defaults"."""
    gc.set_threshold(*THRESHOLDS)
