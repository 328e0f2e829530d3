"""The migrator's pure parts: file names, order, checksums, each file's state against the
ledger, and the packaged migration sets of the services."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from gayari_shared.migrations import (
    ChangedMigrationError,
    Migration,
    MigrationError,
    MigrationSet,
    Recorded,
    SchemaBehindError,
    compare,
    require_current,
)

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def migrations(*sql: str) -> MigrationSet:
    return MigrationSet.of(
        "svc", (Migration.of(f"{i:04d}_step_{i}.sql", s) for i, s in enumerate(sql, start=1))
    )


def row(m: Migration, checksum: str | None = "same") -> Recorded:
    return Recorded(m.version, m.filename, m.checksum if checksum == "same" else checksum, AT)


@pytest.mark.parametrize(
    "name", ["1_x.sql", "0001-x.sql", "0001_X.sql", "0001_x.SQL", "0001_.sql", "x.sql"]
)
def test_a_file_not_named_nnnn_name_sql_is_refused(name: str) -> None:
    with pytest.raises(MigrationError, match=r"NNNN_lowercase_name\.sql"):
        Migration.of(name, "SELECT 1")


def test_the_checksum_is_the_sha256_of_the_text() -> None:
    m = Migration.of("0001_a.sql", "CREATE TABLE a ();\n")
    assert m.version == 1
    assert m.checksum == hashlib.sha256(b"CREATE TABLE a ();\n").hexdigest()


@pytest.mark.parametrize("versions", [(1, 3), (2,), (1, 1)])
def test_numbers_start_at_one_without_gap_or_repeat(versions: tuple[int, ...]) -> None:
    files = [Migration.of(f"{v:04d}_f{i}.sql", "SELECT 1") for i, v in enumerate(versions)]
    with pytest.raises(MigrationError, match="no gap"):
        MigrationSet.of("svc", files)


def test_files_are_ordered_by_number() -> None:
    files = [Migration.of("0002_b.sql", "b"), Migration.of("0001_a.sql", "a")]
    assert [m.filename for m in MigrationSet.of("svc", files).migrations] == [
        "0001_a.sql",
        "0002_b.sql",
    ]


def test_each_file_gets_its_state() -> None:
    s = migrations("a", "b", "c", "d")
    one, two, three, _ = s.migrations
    recorded = [row(one), row(two, checksum=None), row(three, checksum="0" * 64)]
    states = compare(s, recorded)
    assert [(x.filename, x.state) for x in states] == [
        ("0001_step_1.sql", "applied"),
        ("0002_step_2.sql", "baselined"),
        ("0003_step_3.sql", "changed"),
        ("0004_step_4.sql", "pending"),
    ]
    assert states[0].applied_at == AT and states[3].applied_at is None


def test_a_recorded_version_without_a_file_is_unknown() -> None:
    """A newer release applied it (this one was rolled back to): shown, not refused."""
    s = migrations("a")
    recorded = [row(s.migrations[0]), Recorded(2, "0002_later.sql", "f" * 64, AT)]
    states = compare(s, recorded)
    assert [(x.filename, x.state) for x in states][1] == ("0002_later.sql", "unknown")
    require_current(states)


def test_a_changed_file_is_refused_by_name() -> None:
    s = migrations("a", "b")
    states = compare(s, [row(s.migrations[0]), row(s.migrations[1], checksum="0" * 64)])
    with pytest.raises(ChangedMigrationError, match=r"0002_step_2\.sql.*new one"):
        require_current(states)


def test_a_pending_file_names_the_command() -> None:
    s = migrations("a", "b")
    with pytest.raises(SchemaBehindError, match=r"0002_step_2\.sql.*gayari-svc-migrate up"):
        require_current(compare(s, [row(s.migrations[0])]))


def test_the_status_line_says_component_schema_file_state_and_time() -> None:
    s = migrations("a")
    (state,) = compare(s, [row(s.migrations[0])], schema="rm_x")
    assert state.line().split() == ["svc@rm_x", "0001_step_1.sql", "applied", AT.isoformat()]


@pytest.mark.parametrize(
    ("component", "package", "folder", "count"),
    [
        ("registry", "gayari_registry", "migrations", 10),
        ("interventions", "gayari_interventions", "migrations", 12),
        ("reporting", "gayari_reporting", "migrations/read_models", 12),
        ("reporting-generations", "gayari_reporting", "migrations/control", 2),
        ("reporting-refusals", "gayari_reporting", "migrations/refusals", 1),
    ],
)
def test_the_services_migrations_are_packaged(
    component: str, package: str, folder: str, count: int
) -> None:
    """The files are found in the installed package (importlib.resources), none changed number:
    each number is the position the in-process migrations recorded."""
    s = MigrationSet.from_package(component, package, folder)
    assert [m.version for m in s.migrations] == list(range(1, count + 1))
    assert all(m.sql.strip() for m in s.migrations)
