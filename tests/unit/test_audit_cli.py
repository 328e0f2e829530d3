"""`gayari-audit` follows the pages of GET /audit with the administrator's key and prints every
record as a JSON line or a table; a refusal is exit status 2 with the service's reason."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gayari_shared.audit.cli import main

KEY = "gyr_0123456789ab_secret"


def record(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "at": "2026-12-06T10:00:00Z",
        "key_id": "0123456789ab",
        "agency": "dispar",
        "access": "read",
        "operation": "read:household",
        "household_ids": [f"00000000-0000-0000-0000-{n:012d}"],
        "correlation_id": f"c-{n}",
    }


@pytest.fixture
def service() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    asked: list[dict[str, list[str]]] = []

    class Audit(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            asked.append(query)
            if self.headers["Authorization"] != f"Bearer {KEY}":
                body = {"status": 403, "title": "Forbidden", "detail": "administrators only"}
                self.send_response(403)
            else:
                after = int(query.get("after", ["6"])[0])
                limit = int(query["limit"][0])
                ids = [n for n in range(after - 1, 0, -1)][:limit]
                body = {
                    "records": [record(n) for n in ids],
                    "next": ids[-1] if len(ids) == limit else None,
                }
                self.send_response(200)
            payload = json.dumps(body).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Audit)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_every_page_is_printed_as_json_lines_with_the_filters_passed_on(
    service: tuple[str, list[dict[str, list[str]]]], tmp_path: Path
) -> None:
    url, asked = service
    key_file = tmp_path / "admin.key"
    key_file.write_text(KEY + "\n")
    out = io.StringIO()
    argv = ["--url", url, "--key-file", str(key_file), "--agency", "dispar", "--page-size", "2"]
    assert main(argv, out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in lines] == [5, 4, 3, 2, 1]
    assert [q.get("after") for q in asked] == [None, ["4"], ["2"]]
    assert all(q["agency"] == ["dispar"] for q in asked)


def test_a_table_and_a_maximum(
    service: tuple[str, list[dict[str, list[str]]]], tmp_path: Path
) -> None:
    url, _ = service
    key_file = tmp_path / "admin.key"
    key_file.write_text(KEY)
    out = io.StringIO()
    assert (
        main(["--url", url, "--key-file", str(key_file), "--max", "3", "--format", "table"], out)
        == 0
    )
    rows = out.getvalue().splitlines()
    assert rows[0].startswith("id  at  key_id") and len(rows) == 4
    assert "read:household" in rows[1] and "00000000-0000-0000-0000-000000000005" in rows[1]


def test_a_refusal_is_status_2_with_the_reason(
    service: tuple[str, list[dict[str, list[str]]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = service
    key_file = tmp_path / "agency.key"
    key_file.write_text("gyr_aaaaaaaaaaaa_other")
    assert main(["--url", url, "--key-file", str(key_file)], io.StringIO()) == 2
    assert "403: administrators only" in capsys.readouterr().err
