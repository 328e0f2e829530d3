"""HTTP routes of the spreadsheet import: the templates, and an agency's upload answered with the
same spreadsheet, each row's status beside it. See docs/spreadsheet-import.md.

A CSV is read as it arrives; an XLSX (a zip, read from its end) is spooled to a temporary file
first, then read a batch of rows at a time. The result is written to a temporary file as the
rows are done and sent when the last one is.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParameter
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from gayari_interventions.adapters.spreadsheets import (
    CSV,
    XLSX,
    CsvResult,
    ResultWriter,
    SpreadsheetError,
    XlsxResult,
    XlsxRows,
    blank,
    template_csv,
    template_xlsx,
)
from gayari_interventions.domain.import_reasons import Reason
from gayari_interventions.domain.import_rows import (
    Header,
    RowError,
    RowOutcome,
    Source,
    Tally,
    find_header,
    holds_keys,
)
from gayari_interventions.domain.import_templates import TEMPLATES, ImportKind, Template
from gayari_interventions.entrypoints.http import PROBLEM
from gayari_interventions.service_layer.imports import ImportDeps, SheetRow, import_rows
from gayari_shared.auth import Principal, Role
from gayari_shared.auth.http import authorized
from gayari_shared.csvstream import CsvStream
from gayari_shared.http.correlation import current_correlation_id
from gayari_shared.http.openapi import DeclaredQueryRoute
from gayari_shared.http.problems import FieldError, ProblemError
from gayari_shared.inputs import DIGITS_ONLY

router = APIRouter(tags=["imports"], route_class=DeclaredQueryRoute)

# An XLSX is spooled to disk before it is read: beyond this it is refused (413). A 10,000-row
# grants file is about 0.5 MB.
MAX_XLSX_BYTES: Final = 64 * 1024 * 1024
SUMMARY: Final = "Gayari-Import-Summary"
XLSX_ROWS_PER_READ: Final = 500

Kind = Annotated[
    ImportKind,
    PathParameter(description="The kind of records the file holds", examples=["grants"]),
]
_CSV_EXAMPLE: Final = template_csv(TEMPLATES["grants"])
_FILE_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    CSV: {"schema": {"type": "string"}},
    XLSX: {"schema": {"type": "string", "contentMediaType": XLSX}},
}
_UPLOAD: Final = {
    "requestBody": {
        "required": True,
        "description": "The filled template, as XLSX or as CSV (UTF-8): a header row of labels "
        "(any text), a row of the columns' machine keys, then one record per row. Columns "
        "that are not the template's are the agency's own: kept in the result, not read.",
        "content": {
            CSV: {**_FILE_SCHEMAS[CSV], "example": _CSV_EXAMPLE},
            XLSX: {
                **_FILE_SCHEMAS[XLSX],
                "examples": {
                    "template": {
                        "summary": "The grants template, its example row in it (skipped)",
                        "externalValue": "/imports/templates/grants.xlsx",
                    }
                },
            },
        },
    }
}
_RESULT: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The uploaded rows, each with its row number, status (tercatat / "
        "recorded, tidak berubah / unchanged, dikoreksi / corrected, ditolak / refused, "
        "dilewati / skipped), record id, and for a refused row the columns at fault and the "
        "reason in Bahasa Indonesia and English; in the format uploaded",
        "headers": {
            SUMMARY: {
                "description": "Counts of the rows by status (an RFC 8941 dictionary), e.g. "
                "`rows=3, recorded=2, unchanged=0, corrected=0, refused=1, skipped=0`",
                "schema": {"type": "string"},
            }
        },
        "content": _FILE_SCHEMAS,
    },
    401: {**PROBLEM, "description": "No API key, or an unknown, revoked or expired one"},
    403: {**PROBLEM, "description": "The key lacks the role, or belongs to no agency"},
    413: {**PROBLEM, "description": f"An XLSX over {MAX_XLSX_BYTES // 2**20} MiB"},
    415: {**PROBLEM, "description": "Neither text/csv nor XLSX"},
    422: {
        **PROBLEM,
        "description": "Not a file of this kind: not CSV or XLSX, empty, or without the "
        "template's key row or a required column (each named); a bad row is not a 422, it is "
        "refused in the result",
    },
}
Importer = Annotated[Principal, authorized(Role.INTERVENTIONS_WRITE)]


def _template_response(body: bytes | str, media_type: str, name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/imports/templates/{kind}.xlsx",
    operation_id="getImportTemplateXlsx",
    response_class=Response,
    responses={
        200: {"description": "The template", "content": {XLSX: _FILE_SCHEMAS[XLSX]}},
        422: {**PROBLEM, "description": "An unknown kind"},
    },
)
async def get_template_xlsx(kind: Kind) -> Response:
    """The template of a kind of record, to fill in: headers in Bahasa Indonesia over the
    machine keys, drop-down lists, one example row (skipped on upload), a sheet of
    instructions. No key needed: it holds no data."""
    content = await asyncio.to_thread(template_xlsx, TEMPLATES[kind])
    return _template_response(content, XLSX, f"gayari-{kind}.xlsx")


@router.get(
    "/imports/templates/{kind}.csv",
    operation_id="getImportTemplateCsv",
    response_class=Response,
    responses={
        200: {"description": "The template", "content": {CSV: _FILE_SCHEMAS[CSV]}},
        422: {**PROBLEM, "description": "An unknown kind"},
    },
)
async def get_template_csv(kind: Kind) -> Response:
    """The template as CSV: the label row, the key row, one example row."""
    return _template_response(template_csv(TEMPLATES[kind]), CSV, f"gayari-{kind}.csv")


def _bad_file(fields: Sequence[str], message: str) -> ProblemError:
    return ProblemError(
        422,
        "The file is not an import of this kind",
        f"{', '.join(fields)}: {message}",
        kind="urn:gayari:problem:invalid-request",
        errors=[FieldError(field=name, message=message) for name in fields],
    )


@router.post(
    "/imports/{kind}",
    operation_id="importRecords",
    response_class=Response,
    openapi_extra=_UPLOAD,
    responses=_RESULT,
)
async def post_import(
    request: Request,
    kind: Kind,
    principal: Importer,
    first_row: Annotated[
        int,
        Query(
            ge=1,
            le=10_000_000,
            description="The number of the body's first row in the whole file, when the body "
            "is part of it (the CLI sends a large file in parts): rows keep their numbers",
            examples=[1],
        ),
        DIGITS_ONLY,
    ] = 1,
) -> Response:
    """Record the rows of an agency's spreadsheet as the caller's agency's records, one
    transaction per row: a refused row stops nothing. Idempotent by the row reference
    (`row_ref`): a row sent again with the same values changes nothing; one with other values
    voids the record it made and records the corrected one. Households by KK (looked up by its
    keyed hash) or household id. Answered with the same spreadsheet and each row's status."""
    if principal.agency is None:
        raise ProblemError(
            403,
            "Forbidden",
            f"key {principal.key_id} belongs to no agency; records are imported by the agency "
            "that gives them",
            kind="urn:gayari:problem:forbidden",
        )
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    deps: ImportDeps = request.app.state.imports
    template = TEMPLATES[kind]
    if media_type == CSV:
        return await _import_csv(request, deps, principal.agency, template, first_row)
    if media_type == XLSX:
        return await _import_xlsx(request, deps, principal.agency, template, first_row)
    raise ProblemError(415, "Unsupported media type", f"send the file as {CSV} or {XLSX}")


async def _import_csv(
    request: Request, deps: ImportDeps, agency: str, template: Template, first_row: int
) -> Response:
    stream = CsvStream(request.stream(), first_row)
    records: AsyncIterator[tuple[int, Sequence[object]]] = stream.records()
    return await _import(
        deps, agency, template, records, source="csv", result=CsvResult, broken=lambda: stream.error
    )


async def _import_xlsx(
    request: Request, deps: ImportDeps, agency: str, template: Template, first_row: int
) -> Response:
    upload = await _spool(request)
    try:
        try:
            reader = await asyncio.to_thread(XlsxRows, upload)
        except SpreadsheetError as exc:
            raise _bad_file(["body"], str(exc)) from exc
        failure: list[str] = []
        try:
            records = _xlsx_records(reader, first_row, failure)
            return await _import(
                deps,
                agency,
                template,
                records,
                source="xlsx",
                result=XlsxResult,
                broken=lambda: failure[0] if failure else None,
            )
        finally:
            reader.close()
    finally:
        upload.unlink(missing_ok=True)


async def _spool(request: Request) -> Path:
    """The body in a temporary file, refused past MAX_XLSX_BYTES."""
    fd, name = tempfile.mkstemp(prefix="gayari-upload-", suffix=".xlsx")
    path, size = Path(name), 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_XLSX_BYTES:
                    raise ProblemError(
                        413,
                        "The file is too large",
                        f"an XLSX of more than {MAX_XLSX_BYTES // 2**20} MiB: split it, or "
                        "send it as CSV",
                    )
                out.write(chunk)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return path


async def _xlsx_records(
    reader: XlsxRows, first_row: int, failure: list[str]
) -> AsyncIterator[tuple[int, Sequence[object]]]:
    """The sheet's rows, read in a worker thread a batch at a time; a row that cannot be read
    ends them, and `failure` says why (what came before is still imported)."""
    while True:
        try:
            batch = await asyncio.to_thread(reader.take, XLSX_ROWS_PER_READ)
        except SpreadsheetError as exc:
            failure.append(str(exc))
            return
        if not batch:
            return
        for number, values in batch:
            yield number + first_row - 1, values


async def _import(
    deps: ImportDeps,
    agency: str,
    template: Template,
    records: AsyncIterator[tuple[int, Sequence[object]]],
    *,
    source: Source,
    result: Callable[[], ResultWriter],
    broken: Callable[[], str | None],
) -> Response:
    first = await anext(records, None)
    if first is None:
        raise _bad_file(["body"], broken() or "the file is empty")
    second = None if holds_keys(first[1]) else await anext(records, None)
    header = find_header(template, first[1], None if second is None else second[1])
    if isinstance(header, list):
        keys = ", ".join(template.keys)
        raise _bad_file(header, f"missing column (the key row names the columns: {keys})")
    tally = Tally()
    writer = result()
    writer.header(template, header)
    rows = _sheet_rows(records, header)
    try:
        async for row, outcome in import_rows(
            deps, agency, template, rows, source=source, correlation_id=current_correlation_id()
        ):
            writer.row(template, row.number, row.values, outcome)
            tally.add(outcome.status)
        if (error := broken()) is not None:
            reason = Reason(
                f"berkas rusak mulai di sini: {error}", f"the file breaks here: {error}"
            )
            outcome = RowOutcome("refused", errors=(RowError("row", reason),))
            writer.row(template, 0, [], outcome)
            tally.add("refused")
    except BaseException:
        # The import stopped (the database away, say): the rows done so far stay done, and
        # sending the file again finds them unchanged; no partial result is left behind.
        await asyncio.to_thread(_discard, writer)
        raise
    path = await asyncio.to_thread(writer.close)
    suffix = "xlsx" if writer.media_type == XLSX else "csv"
    return FileResponse(
        path,
        media_type=writer.media_type,
        filename=f"hasil-{template.kind}.{suffix}",
        headers={SUMMARY: tally.header()},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def _discard(writer: ResultWriter) -> None:
    writer.close().unlink(missing_ok=True)


async def _sheet_rows(
    records: AsyncIterator[tuple[int, Sequence[object]]], header: Header
) -> AsyncIterator[SheetRow]:
    async for number, values in records:
        if not blank(values):
            yield SheetRow(number, header.cells(values), values)
