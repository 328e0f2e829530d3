"""Running a service process: uvicorn with our logging and a bounded graceful stop."""

from __future__ import annotations

import signal

import uvicorn
from fastapi import FastAPI


def serve(app: FastAPI, host: str, port: int) -> None:
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown: stop accepting, finish requests
    # in hand (at most 8 s), then run the app's lifespan shutdown (relays, consumers, pools).
    # Afterwards it re-raises the signal to whatever handler was there before; ignoring it
    # there makes a completed SIGTERM stop exit 0, which is what orchestrators expect.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=8,
        lifespan="on",
    )
