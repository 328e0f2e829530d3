"""The fuzz suite's figures: one summary line per service at the end of the run."""

from __future__ import annotations

import pytest

from tests.fuzz.fuzzing import FuzzReport

REPORTS: list[FuzzReport] = []


@pytest.fixture
def fuzz_reports() -> list[FuzzReport]:
    """Where a fuzz test files its report for the terminal summary."""
    return REPORTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORTS:
        return
    terminalreporter.section("HTTP fuzzing (schemathesis)")
    for report in REPORTS:
        terminalreporter.write_line(report.summary())
    for report in REPORTS:
        if report.tolerated:
            terminalreporter.write_line(f"known failures of {report.service} (tolerated):")
            terminalreporter.write_line(report.details(tolerated=True))
