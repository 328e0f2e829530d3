"""API keys may expire: an expired key stops authenticating and says why; key files written
before keys could expire still load, their keys never expiring; the CLI issues keys with
`--expires` and lists them with their state."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from gayari_shared.auth.__main__ import expiry, main
from gayari_shared.auth.keys import KeyFile, KeyRefusedError, Role, issue_key


def test_an_expired_key_is_refused_as_expired_and_an_unexpired_one_works(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys.json")
    old, record = issue_key(
        "old", {Role.REGISTRY_READ}, agency="dispar", expires_at=datetime.now(UTC) - timedelta(1)
    )
    keys.add(record)
    new, record = issue_key(
        "new", {Role.REGISTRY_READ}, agency="dispar", expires_at=datetime.now(UTC) + timedelta(1)
    )
    keys.add(record)
    with pytest.raises(KeyRefusedError) as refused:
        keys.verify(old)
    assert refused.value.reason == "expired" and "expired at" in str(refused.value)
    assert keys.authenticate(old) is None
    principal = keys.verify(new)
    assert principal.agency == "dispar"
    # Reread from the file by another process: the expiry is kept.
    assert KeyFile(keys.path).authenticate(old) is None
    assert KeyFile(keys.path).authenticate(new) == principal


def test_a_wrong_secret_is_unknown_whatever_the_keys_state(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys.json")
    key, record = issue_key("old", {Role.ADMIN}, expires_at=datetime.now(UTC) - timedelta(1))
    keys.add(record)
    keys.revoke(record.key_id)
    with pytest.raises(KeyRefusedError) as refused:
        keys.verify(key[:-1] + ("A" if key[-1] != "A" else "B"))
    assert refused.value.reason == "unknown"
    with pytest.raises(KeyRefusedError) as revoked:
        keys.verify(key)
    assert revoked.value.reason == "revoked"


def test_a_key_file_from_before_expiry_loads_and_its_keys_never_expire(tmp_path: Path) -> None:
    key, record = issue_key("legacy", {Role.REPORTING_READ}, agency="dinsos")
    legacy = record.model_dump(mode="json", exclude={"expires_at"})
    assert "expires_at" not in legacy
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([legacy]))
    keys = KeyFile(path)
    principal = keys.verify(key)
    assert principal.key_id == record.key_id
    assert keys.records()[0].expires_at is None


def test_the_cli_issues_a_key_with_an_expiry_and_lists_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    assert (
        main(
            [
                "--file",
                str(path),
                "issue",
                "--label",
                "auditor",
                "--role",
                "admin",
                "--expires",
                "2031-06-30T17:00+07:00",
            ]
        )
        == 0
    )
    key = capsys.readouterr().out.strip()
    record = KeyFile(path).records()[0]
    assert record.expires_at == datetime(2031, 6, 30, 10, tzinfo=UTC)
    assert KeyFile(path).authenticate(key) is not None
    assert main(["--file", str(path), "list"]) == 0
    assert "until 2031-06-30" in capsys.readouterr().out


def test_an_expiry_is_a_date_or_a_date_time_with_its_offset() -> None:
    assert expiry("2027-01-01") == datetime(2027, 1, 1, tzinfo=UTC)
    assert expiry("2027-01-01T08:00+08:00") == datetime(
        2027, 1, 1, 8, tzinfo=timezone(timedelta(hours=8))
    )
    with pytest.raises(argparse.ArgumentTypeError, match="offset"):
        expiry("2027-01-01T08:00")
    with pytest.raises(argparse.ArgumentTypeError):
        expiry("next year")
