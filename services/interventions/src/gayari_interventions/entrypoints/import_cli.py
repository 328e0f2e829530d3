"""`gayari-interventions-import KIND FILE --key-file KEY`: import an agency's spreadsheet (XLSX or
CSV) through the interventions service's HTTP API, with a progress bar, and write the result
(the file's rows, each with its status) beside it or to --out, in the same format.

The file is read a row at a time and sent in parts of --chunk-rows rows, each with the file's
header rows and the number of its first row (so the result's row numbers are the file's); the
parts' results are written to one file as they come back. Neither side holds the whole file.
Sending a file again is safe: rows already recorded come back "unchanged".
Exit status: 0 no row refused, 1 some rows refused, 2 the import could not run.

`import_file(...)` does the same from Python (the demo imports an agency's file with it).
"""

from __future__ import annotations

import argparse
import codecs
import csv
import http.client
import io
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO
from urllib.parse import urlsplit

from openpyxl import load_workbook  # type: ignore[import-untyped]
from tqdm import tqdm

from gayari_interventions.adapters.spreadsheets import (
    CSV,
    XLSX,
    XlsxRowsOut,
    xlsx_part,
    xlsx_values,
)
from gayari_interventions.domain.import_rows import STATUS_TEXT, Status, holds_keys
from gayari_interventions.domain.import_templates import IMPORT_KINDS
from gayari_shared.csvstream import CsvFormatError, RecordSplitter, fields_of

SUMMARY: Final = "Gayari-Import-Summary"


class ImportFailedError(Exception):
    """The import could not run (the service refused the file, or could not be reached)."""


@dataclass(frozen=True, slots=True)
class Part:
    first_row: int  # of the body (its first header row) in the whole file
    body: bytes
    rows: int  # data rows in it


@dataclass
class Counts:
    rows: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUS_TEXT, 0))

    def add(self, header: str) -> None:
        for item in header.split(","):
            name, _, value = item.strip().partition("=")
            if name == "rows":
                self.rows += int(value)
            elif name in self.by_status:
                self.by_status[name] += int(value)

    def of(self, status: Status) -> int:
        return self.by_status[status]

    def line(self) -> str:
        return f"{self.rows} rows: " + ", ".join(f"{n} {s}" for s, n in self.by_status.items())


def _csv_parts(path: Path, chunk_rows: int) -> Iterator[Part]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    splitter = RecordSplitter()
    header: list[str] = []
    pending: list[str] = []
    number = 0
    start = 1

    def part() -> Part:
        return Part(start - len(header), "".join(header + pending).encode(), len(pending))

    with path.open("rb") as handle:
        for line in handle:
            for record in splitter.feed(decoder.decode(line)):
                number += 1
                if not header or (len(header) == 1 and not holds_keys(fields_of(header[0]))):
                    header.append(record)
                    start = number + 1
                    continue
                if len(pending) >= chunk_rows:
                    yield part()
                    pending, start = [], number
                pending.append(record)
        pending.extend(splitter.feed(decoder.decode(b"", final=True)) + splitter.finish())
    if header:
        yield part()


def _xlsx_parts(path: Path, chunk_rows: int) -> Iterator[Part]:
    book = load_workbook(path, read_only=True, data_only=True)
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header: list[Sequence[object]] = []
        pending: list[Sequence[object]] = []
        number = start = 0
        for values in rows:
            number += 1
            if not header or (len(header) == 1 and not holds_keys(header[0])):
                header.append(values)
                start = number + 1
                continue
            if len(pending) >= chunk_rows:
                yield Part(start - len(header), xlsx_part(header + pending), len(pending))
                pending, start = [], number
            pending.append(values)
        if header:
            yield Part(start - len(header), xlsx_part(header + pending), len(pending))
    finally:
        book.close()


def xlsx_data_rows(path: Path) -> int | None:
    """Rows below the header, as the workbook's own dimensions say (None if it does not)."""
    book = load_workbook(path, read_only=True)
    try:
        last = book.worksheets[0].max_row
        return None if last is None else max(last - 2, 0)
    finally:
        book.close()


class Interventions:
    def __init__(self, url: str, key: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        connection = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self._conn = connection(parts.netloc, timeout=timeout_s)
        self._base = parts.path.rstrip("/")
        self._key = key

    def send(self, kind: str, media_type: str, part: Part) -> tuple[bytes, str]:
        """The result of one part, and its summary header."""
        self._conn.request(
            "POST",
            f"{self._base}/imports/{kind}?first_row={part.first_row}",
            body=part.body,
            headers={"Content-Type": media_type, "Authorization": f"Bearer {self._key}"},
        )
        response = self._conn.getresponse()
        body = response.read()
        if response.status != 200:
            try:
                detail = json.loads(body).get("detail")
            except (json.JSONDecodeError, AttributeError):
                detail = body[:500].decode(errors="replace")
            raise ImportFailedError(f"the service refused the file ({response.status}): {detail}")
        return body, response.getheader(SUMMARY, "")


class _Results:
    """The parts' results as one file: the first part's header rows, then every part's rows."""

    def __init__(self, path: Path, media_type: str) -> None:
        self.path = path
        self._xlsx = XlsxRowsOut() if media_type == XLSX else None
        self._csv: TextIO | None = None
        if self._xlsx is None:
            self._csv = path.open("w", encoding="utf-8", newline="")
        self._parts = 0

    def add(self, content: bytes) -> None:
        skip = 0 if self._parts == 0 else 2  # a result always has two header rows
        self._parts += 1
        if self._xlsx is not None:
            rows = xlsx_values(content)
            # A cell left empty is not written, so a row read back may end early: as wide as
            # the header again, so the status columns stay where they are.
            width = len(rows[0]) if rows else 0
            for values in rows[skip:]:
                self._xlsx.append(list(values) + [None] * (width - len(values)))
            return
        assert self._csv is not None
        records = list(csv.reader(io.StringIO(content.decode("utf-8"))))
        csv.writer(self._csv, lineterminator="\r\n").writerows(records[skip:])

    def close(self) -> None:
        if self._xlsx is not None:
            self._xlsx.save(self.path)
        elif self._csv is not None:
            self._csv.close()


def result_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.hasil{path.suffix}")


def import_file(
    url: str,
    key: str,
    kind: str,
    path: Path,
    *,
    out: Path | None = None,
    chunk_rows: int = 1000,
    timeout_s: float = 600.0,
    progress: bool = False,
) -> Counts:
    """Import `path` (.xlsx or .csv) as records of `kind` of the key's agency; the result goes
    to `out` (default: FILE.hasil.xlsx/.csv beside it). Raises ImportFailedError."""
    media_type = XLSX if path.suffix.lower() == ".xlsx" else CSV
    service = Interventions(url, key, timeout_s)
    total = xlsx_data_rows(path) if media_type == XLSX else None
    results = _Results(out or result_path(path), media_type)
    counts = Counts()
    bar = tqdm(total=total, unit="row", disable=not progress, file=sys.stderr, mininterval=0.5)
    try:
        parts = (
            _xlsx_parts(path, chunk_rows) if media_type == XLSX else _csv_parts(path, chunk_rows)
        )
        for part in parts:
            content, summary = service.send(kind, media_type, part)
            results.add(content)
            counts.add(summary)
            bar.update(part.rows)
            bar.set_postfix_str(f"refused {counts.of('refused')}", refresh=False)
    except CsvFormatError as exc:
        raise ImportFailedError(f"the file is not CSV this tool can read: {exc}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise ImportFailedError(
            f"could not reach the interventions service at {url}: {exc}"
        ) from exc
    finally:
        bar.close()
        results.close()
    return counts


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gayari-interventions-import",
        description="Import an agency's spreadsheet (a filled template, XLSX or CSV) as its "
        "records; write each row's status to a result file. Safe to run again.",
    )
    p.add_argument("kind", choices=IMPORT_KINDS, help="the kind of records the file holds")
    p.add_argument("file", type=Path, help="the filled template (.xlsx or .csv, UTF-8)")
    p.add_argument("--url", default="http://127.0.0.1:8102", help="the service's base URL")
    p.add_argument(
        "--key-file",
        type=Path,
        required=True,
        help="a file holding the agency's API key (interventions:write)",
    )
    p.add_argument("--out", type=Path, help="the result file (default: FILE.hasil.xlsx/.csv)")
    p.add_argument("--chunk-rows", type=int, default=1000, help="rows per request")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for path in (args.file, args.key_file):
        if not path.is_file():
            print(f"gayari-interventions-import: {path} is not a file", file=sys.stderr)
            return 2
    key = args.key_file.read_text(encoding="utf-8").strip()
    out = args.out or result_path(args.file)
    try:
        counts = import_file(
            args.url,
            key,
            args.kind,
            args.file,
            out=out,
            chunk_rows=args.chunk_rows,
            timeout_s=args.timeout,
            progress=not args.no_progress,
        )
    except ImportFailedError as exc:
        print(f"gayari-interventions-import: {exc}", file=sys.stderr)
        return 2
    print(f"{counts.line()}; result in {out}")
    return 1 if counts.of("refused") else 0


if __name__ == "__main__":
    sys.exit(main())
