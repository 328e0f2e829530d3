"""Running a service process: settings, logging, tracing, then uvicorn with a bounded graceful
stop. `entry_point` makes the `main` of a console script (`gayari-<service>`,
`gayari-<service>-relay`) from what the service's bootstrap builds."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI
from pydantic_settings import BaseSettings

from gayari_shared.logging import configure_logging
from gayari_shared.settings import CommonSettings, ConfigurationError, load_settings
from gayari_shared.tracing import configure_tracing

S = TypeVar("S", bound=BaseSettings)


def entry_point(
    service: str,
    settings_class: type[S],
    create_app: Callable[[CommonSettings, S], FastAPI],
    port: Callable[[S], int],
) -> Callable[[], None]:
    """The `main` of a console script: `create_app` (the service's bootstrap) served on
    `port(settings)`."""

    def main() -> None:
        run_service(service, settings_class, create_app, port)

    main.__doc__ = f"Run gayari-{service}."
    return main


def run_service(
    service: str,
    settings_class: type[S],
    create_app: Callable[[CommonSettings, S], FastAPI],
    port: Callable[[S], int],
) -> None:
    problems: list[str] = []
    common = _load(CommonSettings, problems)
    settings = _load(settings_class, problems)
    app = None
    if common is not None and settings is not None:
        try:
            app = create_app(common, settings)
        except ConfigurationError as exc:
            problems.extend(exc.problems)
    if app is None or common is None or settings is None:
        # Before logging is set up, and for a person reading a failed start: plain text.
        print(f"gayari-{service}: invalid configuration:", *problems, sep="\n  ", file=sys.stderr)
        sys.exit(2)
    configure_logging(service, common.log_level, common.log_json)
    configure_tracing(service)
    serve(app, common.http_host, port(settings))


def _load(settings_class: type[S], problems: list[str]) -> S | None:
    try:
        return load_settings(settings_class)
    except ConfigurationError as exc:
        problems.extend(exc.problems)
        return None


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
        # The C HTTP parser and the libuv loop (dependencies of gayari-shared): on the write
        # path they cost a fraction of what h11 and asyncio's own loop do per request.
        http="httptools",
        loop="asyncio" if sys.platform == "win32" else "uvloop",
    )
