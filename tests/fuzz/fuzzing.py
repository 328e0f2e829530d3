"""Schemathesis against a service's own OpenAPI document, bounded and reproducible.

The app is served by uvicorn on the test's event loop (its real lifespan: database, Kafka);
the fuzzing itself is synchronous (schemathesis calls the server with `requests`) and runs in a
worker thread. Every operation of `/openapi.json` is fuzzed with positive and negative data
under a valid key, then a few cases without a key and with an unknown one must be 401 problems.
Failures are collected, not raised at the first one, so one run reports them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import requests
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import CheckContext, CheckFunction, not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 30  # per operation and generation mode
UNAUTHENTICATED_EXAMPLES = 5  # per operation, without a key and with an unknown one
PUBLIC = ("/health/", "/asyncapi.json")  # what needs no key: these path prefixes
PROBLEM_JSON = "application/problem+json"

# What a leaked stack trace or exception looks like in a response body.
STACK_TRACE = re.compile(
    r"Traceback \(most recent call last\)"
    r'|File "[^"]*", line \d+'
    r"|site-packages"
    r"|\b(?:[a-z_]\w*\.)+[A-Z]\w*(?:Error|Exception)\b"  # asyncpg.exceptions.DataError
    r"|\b(?:Value|Type|Key|Attribute|Index|Runtime|Assertion|Overflow|Lookup|Unicode\w*"
    r"|ZeroDivision|Recursion|Validation|Postgres|Data|Integrity|Interface|NotImplemented)"
    r"(?:Error)\b"
)

AnyCase = Case[Any]


class StackTraceLeaked(Failure):
    """The body shows a stack trace or an exception's class."""

    code = "GAYARI001"


def no_stack_trace(ctx: CheckContext, response: Response, case: AnyCase) -> bool | None:
    # The bytes, not `response.text`: an XLSX export is not text, and decoding it would fail.
    found = STACK_TRACE.search(response.content.decode("utf-8", "replace"))
    if found:
        raise AssertionError(f"stack trace or exception name in the body: {found.group(0)!r}")
    return None


def unauthenticated_is_a_401_problem(
    ctx: CheckContext, response: Response, case: AnyCase
) -> bool | None:
    content_type = response.headers.get("content-type", [""])[0]
    if response.status_code != 401 or not content_type.startswith(PROBLEM_JSON):
        raise AssertionError(
            f"expected a 401 {PROBLEM_JSON}, got {response.status_code} {content_type!r}"
        )
    return None


AUTHENTICATED_CHECKS: list[CheckFunction] = [
    not_a_server_error,
    no_stack_trace,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
UNAUTHENTICATED_CHECKS: list[CheckFunction] = [
    not_a_server_error,
    no_stack_trace,
    unauthenticated_is_a_401_problem,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class FuzzReport:
    """The figures of one service's run and what failed, one entry per distinct failure."""

    service: str
    operations: int = 0
    cases: int = 0
    failing_cases: int = 0
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    tolerated: dict[tuple[str, str, str], str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> str:
        statuses = " ".join(f"{code}:{n}" for code, n in sorted(self.statuses.items()))
        tolerated = f", {len(self.tolerated)} known and tolerated" if self.tolerated else ""
        return (
            f"fuzz {self.service}: {self.operations} operations, {self.cases} cases, "
            f"{self.failing_cases} failing cases, {len(self.failures)} distinct failures"
            f"{tolerated} ({self.seconds:.0f} s; responses {statuses})"
        )

    def details(self, tolerated: bool = False) -> str:
        return "\n\n".join(
            f"[{label} {check}] {title}\n{example}"
            for (label, check, title), example in (
                self.tolerated if tolerated else self.failures
            ).items()
        )


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app with its real lifespan, listening on a free local port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    async with app.router.lifespan_context(app):
        task = asyncio.create_task(server.serve(sockets=[sock]), name="fuzz-server")
        try:
            async with asyncio.timeout(10):
                while not server.started:
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.02)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task
            sock.close()


Tolerate = Callable[[Response, Failure], bool]


def _never(response: Response, failure: Failure) -> bool:
    return False


def _record(
    report: FuzzReport,
    case: AnyCase,
    response: Response | None,
    error: BaseException,
    tolerate: Tolerate,
) -> None:
    label = case.operation.label
    example = _example(case, response)
    if isinstance(error, FailureGroup) and response is not None:
        failures = [f for f in error.exceptions if isinstance(f, Failure)]
        known = [tolerate(response, f) for f in failures]
        for failure, tolerated in zip(failures, known, strict=True):
            key = (label, type(failure).__name__, failure.title)
            where = report.tolerated if tolerated else report.failures
            where.setdefault(key, f"{failure.message}\n{example}")
        if all(known):
            return
        report.failing_cases += 1
    else:
        report.failing_cases += 1
        key = (label, type(error).__name__, str(error).splitlines()[0][:200])
        report.failures.setdefault(key, example)


def _example(case: AnyCase, response: Response | None) -> str:
    sent = case.as_curl_command()
    if response is None:
        return sent
    body = response.content.decode("utf-8", "replace")
    return f"{sent}\n-> {response.status_code} {body[:400]}"


def _run(
    strategy: st.SearchStrategy[AnyCase],
    examples: int,
    body: Callable[[AnyCase], None],
) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def test(case: AnyCase) -> None:
        body(case)

    # Unsatisfiable: nothing to negate, an operation without parameters or body.
    with contextlib.suppress(Unsatisfiable):
        test()


def _with_path(
    operation: APIOperation[Any, Any, Any, Any], path_parameters: dict[str, str]
) -> st.SearchStrategy[AnyCase]:
    return operation.as_strategy(path_parameters=path_parameters)


def _with_known_values(
    strategy: st.SearchStrategy[AnyCase], body_values: dict[str, list[str]]
) -> st.SearchStrategy[AnyCase]:
    """Cases whose body fields named in `body_values` take, half of the time, a known value."""

    def apply(drawn: tuple[AnyCase, bool, dict[str, str]]) -> AnyCase:
        case, use, values = drawn
        if use and isinstance(case.body, dict):
            known = {name: value for name, value in values.items() if name in case.body}
            if known:
                case.body = {**case.body, **known}
        return case

    values = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in body_values.items()})
    return st.tuples(strategy, st.booleans(), values).map(apply)


def fuzz(
    service: str,
    base_url: str,
    key: str,
    *,
    max_examples: int = MAX_EXAMPLES,
    path_values: dict[str, list[str]] | None = None,
    body_values: dict[str, list[str]] | None = None,
    tolerate: Tolerate = _never,
    public: tuple[str, ...] = PUBLIC,
) -> FuzzReport:
    """Fuzz every operation of the service's OpenAPI document; blocking (run it in a thread).

    `path_values` and `body_values` offer known values for path parameters and top-level body
    fields (ids of existing records), used in about half of the positive cases so that the
    fuzzer also reaches past the 404s. `tolerate` names known failures that are reported apart
    and do not fail the run; paths starting with one of `public` are not asked for a key."""
    started = time.monotonic()
    report = FuzzReport(service)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    bearer = {"Authorization": f"Bearer {key}"}
    session = requests.Session()

    def call(case: AnyCase, headers: dict[str, str], checks: list[CheckFunction]) -> None:
        report.cases += 1
        response: Response | None = None
        try:
            response = case.call(base_url=base_url, session=session, headers=headers)
            report.statuses[response.status_code] += 1
            case.validate_response(response, checks=checks, headers=headers)
        except (FailureGroup, AssertionError, requests.RequestException) as exc:
            _record(report, case, response, exc, tolerate)

    def authenticated(case: AnyCase) -> None:
        call(case, bearer, AUTHENTICATED_CHECKS)

    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise AssertionError(f"{service}: unusable OpenAPI document: {result.err()}")
        operation = result.ok()
        report.operations += 1
        known = {
            name: values
            for name, values in (path_values or {}).items()
            if name in {p.name for p in operation.path_parameters}
        }
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE:
                if known:
                    fixed = st.fixed_dictionaries(
                        {name: st.sampled_from(values) for name, values in known.items()}
                    )
                    strategy = st.one_of(strategy, fixed.flatmap(partial(_with_path, operation)))
                if body_values:
                    strategy = _with_known_values(strategy, body_values)
            _run(strategy, max_examples, authenticated)
        if operation.path.startswith(public):
            continue
        strategy = operation.as_strategy()
        for headers in ({}, {"Authorization": "Bearer gyr_unknown_0000"}):

            def unauthenticated(case: AnyCase, headers: dict[str, str] = headers) -> None:
                call(case, headers, UNAUTHENTICATED_CHECKS)

            _run(strategy, UNAUTHENTICATED_EXAMPLES, unauthenticated)
    session.close()
    report.seconds = time.monotonic() - started
    return report
