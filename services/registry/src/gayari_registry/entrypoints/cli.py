"""`gayari-registry-import FILE --key-file KEY`: register the households of a CSV file through
the registry's HTTP API, showing progress.

The file is read a line at a time and sent in chunks of whole KKs (each with the header), so
neither side holds the whole file and each request stays short; rows keep their numbers in the
whole file. Sending a file again is safe: registered KKs are reported as existing.
Exit status: 0 every row accepted, 1 some rows rejected, 2 the import could not run.
Only the standard library: the tool runs wherever the registry package is installed.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import http.client
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO
from urllib.parse import urlsplit

from gayari_registry.domain.imports import header_of
from gayari_shared.csvstream import CsvFormatError, RecordSplitter, fields_of


@dataclass(frozen=True, slots=True)
class Chunk:
    header_row: int  # the number the server gives the header, so rows keep their numbers
    text: str
    rows: int
    bytes_read: int  # of the file, up to the end of this chunk


def chunks(handle: BinaryIO, chunk_rows: int) -> Iterator[Chunk]:
    """Whole KKs of about `chunk_rows` rows each, every chunk led by the header."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    splitter = RecordSplitter()
    header: str | None = None
    kk_at: int | None = None
    pending: list[str] = []
    start = number = read = 0
    last_kk = ""
    for line in handle:
        read += len(line)
        for record in splitter.feed(decoder.decode(line)):
            number += 1
            if header is None:
                header = record
                names = header_of(fields_of(record))
                kk_at = names.index("kk") if "kk" in names else None
                start = number + 1
                continue
            fields = fields_of(record)
            kk = fields[kk_at].strip() if kk_at is not None and len(fields) > kk_at else ""
            if len(pending) >= chunk_rows and fields and kk != last_kk:
                yield Chunk(start - 1, header + "".join(pending), len(pending), read - len(line))
                pending, start = [], number
            pending.append(record)
            last_kk = kk if fields else last_kk
    pending.extend(splitter.feed(decoder.decode(b"", final=True)) + splitter.finish())
    if header is not None and pending:
        yield Chunk(start - 1, header + "".join(pending), len(pending), read)


@dataclass
class Tally:
    rows: int = 0
    rejected: int = 0
    created: int = 0
    existing: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


class Progress:
    """A one-line bar on a terminal; a line per chunk elsewhere (logs, CI)."""

    def __init__(self, out: TextIO, total_bytes: int) -> None:
        self.out, self.total, self.started = out, max(total_bytes, 1), time.monotonic()
        self.live = out.isatty()

    def show(self, done_bytes: int, tally: Tally, *, final: bool = False) -> None:
        if final and not self.live:
            return  # the last chunk's line said it all
        share = min(done_bytes / self.total, 1.0)
        rate = tally.rows / max(time.monotonic() - self.started, 1e-9)
        bar = "#" * int(share * 30)
        line = (
            f"[{bar:<30}] {share:4.0%}  rows {tally.rows}  created {tally.created}  "
            f"existing {tally.existing}  rejected rows {tally.rejected}  {rate:,.0f} rows/s"
        )
        end = "\n" if final or not self.live else ""
        self.out.write(("\r" if self.live else "") + line + end)
        self.out.flush()


class Registry:
    def __init__(self, url: str, key: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        connection = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self._conn = connection(parts.netloc, timeout=timeout_s)
        self._path = parts.path.rstrip("/") + "/households/import"
        self._key = key

    def send(self, chunk: Chunk) -> tuple[int, dict[str, Any]]:
        self._conn.request(
            "POST",
            f"{self._path}?first_row={chunk.header_row}",
            body=chunk.text.encode(),
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Authorization": f"Bearer {self._key}",
            },
        )
        response = self._conn.getresponse()
        body = response.read()
        try:
            return response.status, json.loads(body)
        except json.JSONDecodeError:
            return response.status, {"detail": body[:500].decode(errors="replace")}


def _write_report(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "kk", "status", "household_id", "column", "message"])
        for row in rows:
            errors = row["errors"] or [{"column": "", "message": ""}]
            for error in errors:
                writer.writerow(
                    [
                        row["row"],
                        row["kk"],
                        row["status"],
                        row["household_id"] or "",
                        error["column"],
                        error["message"],
                    ]
                )


def run(args: argparse.Namespace, out: TextIO) -> int:
    for path in (args.file, args.key_file):
        if not path.is_file():
            out.write(f"{path} is not a file\n")
            return 2
    key = args.key_file.read_text(encoding="utf-8").strip()
    registry = Registry(args.url, key, args.timeout)
    progress = Progress(out, args.file.stat().st_size)
    tally, every_row = Tally(), []
    with args.file.open("rb") as handle:
        try:
            for chunk in chunks(handle, args.chunk_rows):
                status, body = registry.send(chunk)
                if status != 200:
                    out.write(
                        f"\nthe registry refused the import ({status}): {body.get('detail')}\n"
                    )
                    return 2
                summary = body["summary"]
                tally.rows += summary["rows"]
                tally.rejected += summary["rows_rejected"]
                tally.created += summary["households_created"]
                tally.existing += summary["households_existing"]
                tally.failures += [r for r in body["rows"] if r["status"] == "rejected"]
                if args.report is not None:
                    every_row += body["rows"]
                progress.show(chunk.bytes_read, tally)
        except CsvFormatError as exc:
            out.write(f"\nthe file is not CSV this tool can read: {exc}\n")
            return 2
        except (OSError, http.client.HTTPException) as exc:
            out.write(f"\ncould not reach the registry at {args.url}: {exc}\n")
            return 2
    if tally.rows == 0:
        out.write(f"no household rows in {args.file}\n")
        return 0
    progress.show(progress.total, tally, final=True)
    for failure in tally.failures[:20]:
        errors = "; ".join(f"{e['column']}: {e['message']}" for e in failure["errors"])
        out.write(f"  row {failure['row']} (KK {failure['kk']}): {errors}\n")
    if len(tally.failures) > 20:
        out.write(f"  ... and {len(tally.failures) - 20} more rejected rows\n")
    if args.report is not None:
        _write_report(args.report, every_row)
    return 1 if tally.rejected else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gayari-registry-import", description=__doc__)
    parser.add_argument("file", type=Path, help="the household CSV (UTF-8)")
    parser.add_argument("--url", default="http://127.0.0.1:8101", help="the registry's base URL")
    parser.add_argument(
        "--key-file", type=Path, required=True, help="a file holding the API key (registry:write)"
    )
    parser.add_argument("--chunk-rows", type=int, default=1000, help="rows per request (about)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    parser.add_argument("--report", type=Path, help="write every row's outcome to this CSV")
    return run(parser.parse_args(argv), sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
