"""CSV read as it arrives: records are cut from a stream of text without holding the whole of it.

A record ends at a line break outside quotes (RFC 4180: a quoted field may hold line breaks, and
a quote inside one is written twice, so an even count of quotes means the record is complete).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import AsyncIterable, AsyncIterator
from typing import Final

MAX_RECORD_CHARS: Final = 64 * 1024


class CsvFormatError(ValueError):
    """The text is not CSV this reader can cut into records (e.g. a quote left open)."""


class RecordSplitter:
    """Cuts text, fed in pieces of any size, into the text of whole CSV records."""

    def __init__(self) -> None:
        self._tail = ""  # a line not ended yet
        self._record: list[str] = []  # the lines of a record whose quotes are still open
        self._quotes = 0
        self._size = 0

    def feed(self, text: str) -> list[str]:
        *lines, self._tail = (self._tail + text).split("\n")
        return [record for line in lines if (record := self._line(line + "\n")) is not None]

    def finish(self) -> list[str]:
        records = [] if not self._tail else [r for r in [self._line(self._tail)] if r is not None]
        if self._record:
            raise CsvFormatError("the file ends inside a quoted field")
        return records

    def _line(self, line: str) -> str | None:
        self._record.append(line)
        self._quotes += line.count('"')
        self._size += len(line)
        if self._quotes % 2:
            if self._size > MAX_RECORD_CHARS:
                raise CsvFormatError(f"a quoted field runs on for over {MAX_RECORD_CHARS} chars")
            return None
        record = "".join(self._record)
        self._record, self._quotes, self._size = [], 0, 0
        return record


def fields_of(record: str) -> list[str]:
    """The fields of one record; a blank line has none."""
    return next(csv.reader(io.StringIO(record)), [])


class CsvStream:
    """The records of a UTF-8 byte stream. Iteration stops at the first thing that is not CSV
    instead of raising, so what came before is still processed; `error` then says what."""

    def __init__(self, chunks: AsyncIterable[bytes], first_row: int = 1) -> None:
        self._chunks = chunks
        self.last_row = first_row - 1
        self.error: str | None = None

    async def records(self) -> AsyncIterator[tuple[int, list[str]]]:
        """(record number, fields) of each non-blank record; a byte-order mark (as
        spreadsheets write) is dropped."""
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        splitter = RecordSplitter()
        try:
            async for chunk in self._chunks:
                for record in splitter.feed(decoder.decode(chunk)):
                    if fields := self._next(record):
                        yield self.last_row, fields
            for record in splitter.feed(decoder.decode(b"", final=True)) + splitter.finish():
                if fields := self._next(record):
                    yield self.last_row, fields
        except (CsvFormatError, UnicodeDecodeError) as exc:
            self.error = f"row {self.last_row + 1} and after: {exc}"

    def _next(self, record: str) -> list[str]:
        self.last_row += 1
        return fields_of(record)
