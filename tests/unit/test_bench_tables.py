"""`make bench`'s pure parts: the secured and plaintext figures side by side with what security
costs, the tables, docs/performance.md's generated section, the plaintext stack's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.figures import (
    Figure,
    cost_percent,
    figures,
    markdown_table,
    side_by_side,
    text_table,
)
from tests.bench.performance_doc import BEGIN, END, MarkersError, RunFacts, render, rewrite
from tests.bench.plaintext_stack import PlaintextStack
from tests.bench.run_all import without_notes


def projection(projector: float, p99: float) -> dict[str, object]:
    return {
        "events": 100_000,
        "projector": {"events_per_s": projector},
        "raw_consume": {"events_per_s": 100_000.0},
        "freshness": {"p99_ms": p99, "p50_ms": 10.0},
    }


HTTP = {
    "registry_register": {"requests_per_s": 800.0, "p99_ms": 60.0},
    "registry_register_keyed": {"requests_per_s": 760.0, "p99_ms": 62.0},
}


def test_rates_cost_what_the_secured_run_lost() -> None:
    assert cost_percent("req/s", 750.0, 1000.0) == pytest.approx(25.0)
    assert cost_percent("events/s", 1100.0, 1000.0) == pytest.approx(-10.0)


def test_times_cost_what_the_secured_run_added() -> None:
    assert cost_percent("ms", 60.0, 50.0) == pytest.approx(20.0)
    assert cost_percent("s", 40.0, 50.0) == pytest.approx(-20.0)


def test_no_cost_without_both_figures_or_a_direction() -> None:
    assert cost_percent("req/s", None, 1000.0) is None
    assert cost_percent("req/s", 900.0, None) is None
    assert cost_percent("req/s", 900.0, 0.0) is None
    assert cost_percent("%", 5.0, 4.0) is None


def test_side_by_side_pairs_each_measure_of_both_runs() -> None:
    secured = figures(projection(20_000, 400), HTTP, {})
    plain = figures(projection(25_000, 300), {}, {})
    rows = {r.measure: r for r in side_by_side(secured, plain)}

    projector = rows["projector catch-up"]
    assert (projector.secured, projector.plaintext) == (20_000, 25_000)
    assert projector.cost_percent == pytest.approx(20.0)
    assert projector.met is True  # the secured figure against its target
    freshness = rows["freshness p99 at 2,000 events/s"]
    assert freshness.cost_percent == pytest.approx(100 * 100 / 300)
    # Measured on the secured stack only: no plaintext figure, no cost.
    register = rows["HTTP registry_register req/s"]
    assert (register.secured, register.plaintext, register.cost_percent) == (800, None, None)


def test_side_by_side_keeps_the_secured_order_and_adds_plaintext_only_measures() -> None:
    secured = [Figure("a", 1.0, "req/s", "", None), Figure("b", None, "ms", "", None)]
    plain = [Figure("b", 2.0, "ms", "", None), Figure("c", 3.0, "s", "", None)]
    rows = side_by_side(secured, plain)
    assert [(r.measure, r.secured, r.plaintext) for r in rows] == [
        ("a", 1.0, None),
        ("b", None, 2.0),
        ("c", None, 3.0),
    ]


def test_tables_show_both_columns_and_the_signed_cost() -> None:
    rows = side_by_side(
        [Figure("HTTP x req/s", 750.0, "req/s", ">= 1000", False)],
        [Figure("HTTP x req/s", 1000.0, "req/s", ">= 1000", True)],
    )
    text = text_table(rows).splitlines()
    assert text[0].split() == [
        "measure",
        "unit",
        "target",
        "secured",
        "plaintext",
        "cost",
        "%",
        "met",
    ]
    assert text[1].split()[-4:] == ["750", "1,000", "+25.0", "NO"]
    markdown = markdown_table(rows).splitlines()
    assert markdown[0] == "| measure | unit | target | secured | plaintext | cost % | met |"
    assert markdown[2] == "| HTTP x req/s | req/s | >= 1000 | 750 | 1,000 | +25.0 | NO |"


def test_a_markdown_cell_cannot_break_the_table() -> None:
    rows = side_by_side([Figure("a | b", 1.0, "ms", "", None)], [])
    assert "| a \\| b |" in markdown_table(rows)


FACTS = RunFacts(
    date="2026-12-06 23:00 UTC",
    command="python -m tests.bench.run_all --events 100000",
    commit="abc1234",
    events=100_000,
    minutes=30.0,
    machine="a CPU, 2 cores",
    load_before="1, 2, 3",
    load_after="4, 5, 6",
    versions="Python 3.11",
    plaintext="ports 29092, 29093, 25432",
    secured_parts=("projection", "http"),
    plaintext_parts=("projection",),
    failed=("http (plaintext)",),
    notes=("a shared machine",),
)


def test_the_section_says_when_on_what_and_what_failed() -> None:
    rows = side_by_side([Figure("projector catch-up", 1.0, "events/s", "", None)], [])
    section = render(rows, FACTS)
    assert section.startswith(BEGIN) and section.rstrip().endswith(END)
    for fact in (
        "2026-12-06 23:00 UTC",
        "commit abc1234",
        "`python -m tests.bench.run_all --events 100000`",
        "100,000 events",
        "a CPU, 2 cores",
        "1, 2, 3 at the start, 4, 5, 6 at the end",
        "- Plaintext stack: projection; ports 29092",
        "- Failed (its figures are missing): http (plaintext).",
        "- Note: a shared machine",
        "| projector catch-up |",
    ):
        assert fact in section, fact


def test_without_a_plaintext_stack_the_section_says_so() -> None:
    facts = RunFacts(**{**FACTS.__dict__, "plaintext": None})
    assert "- Plaintext stack: not run (`--no-plaintext`)." in render([], facts)


def test_rewrite_replaces_only_what_lies_between_the_markers() -> None:
    document = f"# Performance\n\nIntro.\n\n{BEGIN}\nold table\n{END}\n\n## History\n\nKept.\n"
    section = f"{BEGIN}\nnew table\n{END}\n"
    rewritten = rewrite(document, section)
    assert (
        rewritten
        == f"# Performance\n\nIntro.\n\n{BEGIN}\nnew table\n{END}\n\n## History\n\nKept.\n"
    )
    assert rewrite(rewritten, section) == rewritten  # the next run's rewrite is stable


def test_rewrite_without_markers_puts_the_section_before_the_first_chapter() -> None:
    section = f"{BEGIN}\nnew\n{END}\n"
    assert rewrite("# P\n\nIntro.\n\n## History\n", section) == (
        f"# P\n\nIntro.\n\n{BEGIN}\nnew\n{END}\n\n## History\n"
    )
    assert rewrite("# P\n", section) == f"# P\n\n{BEGIN}\nnew\n{END}\n"


@pytest.mark.parametrize(
    "document",
    [f"{END}\n{BEGIN}\n", f"{BEGIN}\n", f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n"],
    ids=["reversed", "no end", "two pairs"],
)
def test_rewrite_refuses_markers_it_cannot_trust(document: str) -> None:
    with pytest.raises(MarkersError):
        rewrite(document, f"{BEGIN}\n{END}\n")


def test_the_plaintext_stack_gets_its_own_ports_and_none_of_the_secured_connection() -> None:
    stack = PlaintextStack(Path("/tmp/plain"), 29092, 29093, 25432, Path("/usr/lib/pg/bin"))
    env = stack.env(
        {
            "PATH": "/usr/bin",
            "GAYARI_TOPIC_PREFIX": "gayari",
            "GAYARI_KAFKA_VERSION": "4.1.1",
            "GAYARI_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
            "GAYARI_KAFKA_SASL_USERNAME": "admin",
            "GAYARI_KAFKA_SSL_CAFILE": "/secured/ca.pem",
            "GAYARI_REGISTRY_DATABASE_URL": "postgresql://127.0.0.1:15432/r",
            "GAYARI_TEST_DATABASE_URL": "postgresql://127.0.0.1:15432/t",
            "GAYARI_CACHE_DIR": "/secured",
            "GAYARI_PG_PORT": "15432",
        }
    )
    assert env == {
        "PATH": "/usr/bin",
        "GAYARI_TOPIC_PREFIX": "gayari",
        "GAYARI_KAFKA_VERSION": "4.1.1",
        "GAYARI_CACHE_DIR": "/tmp/plain",
        "GAYARI_STACK_SECURITY": "plaintext",
        "GAYARI_KAFKA_PORT": "29092",
        "GAYARI_KAFKA_CONTROLLER_PORT": "29093",
        "GAYARI_PG_PORT": "25432",
        "GAYARI_PG_BIN_DIR": "/usr/lib/pg/bin",
        "GAYARI_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "GAYARI_REGISTRY_DATABASE_SSLMODE": "disable",
        "GAYARI_INTERVENTIONS_DATABASE_SSLMODE": "disable",
        "GAYARI_REPORTING_DATABASE_SSLMODE": "disable",
    }


def test_the_recorded_command_leaves_the_notes_to_their_own_line() -> None:
    argv = ["--events", "100", "--note", "busy machine", "--note=another", "--no-plaintext"]
    assert without_notes(argv) == ["--events", "100", "--no-plaintext"]


def test_the_spreadsheet_import_gives_its_rows_per_second_or_nothing() -> None:
    imported = {
        "rows": 10_000,
        "end_to_end": {"rows_per_s": 250},
        "upload": {"rows_per_s": 260},
        "again": {"rows_per_s": 900},
    }
    found = {f.measure: (f.value, f.unit) for f in figures({}, {}, {}, spreadsheet=imported)}
    assert found["spreadsheet import of 10,000 rows, end to end"] == (250.0, "rows/s")
    assert found["spreadsheet import of 10,000 rows, again"] == (900.0, "rows/s")
    assert not [f for f in figures({}, {}, {}) if f.measure.startswith("spreadsheet")]
