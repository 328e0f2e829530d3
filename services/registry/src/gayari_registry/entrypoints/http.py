"""HTTP API of the registry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from gayari_registry.domain.imports import (
    CsvRecord,
    RowError,
    RowReport,
    header_of,
    missing_columns,
)
from gayari_registry.domain.model import (
    Address,
    ConflictError,
    DetailsChange,
    Enrolment,
    Flag,
    Household,
    HouseholdApplication,
    HouseholdRulesError,
    Member,
    Status,
)
from gayari_registry.entrypoints import examples
from gayari_registry.service_layer.handlers import (
    RegistryDeps,
    UnknownHouseholdError,
    change_household,
    enrol_household,
    exit_household,
    get_household,
    import_households,
    near_duplicates,
    register_household,
)
from gayari_shared.audit.http import AuditTrailDep
from gayari_shared.auth import Principal, Role, authorized
from gayari_shared.csvstream import CsvStream
from gayari_shared.events.households import ExitReason
from gayari_shared.http.correlation import current_correlation_id
from gayari_shared.http.idempotency import IdempotentRoute, authorized_idempotent, json_answer
from gayari_shared.http.problems import NOT_JSON, FieldError, Problem, ProblemError
from gayari_shared.idempotency import Answer, answer_written
from gayari_shared.inputs import DIGITS_ONLY, Integer, IsoDate
from gayari_shared.rules import RuleViolationError


class HouseholdView(BaseModel):
    id: uuid.UUID
    kk: str
    head_name: str
    village_code: str
    address: Address | None
    welfare_decile: int
    members: list[Member]
    flags: list[Flag] = Field(description="Findings for review; they never block a household")
    status: Status
    enrolments: list[Enrolment] = Field(description="Enrolments into GAYARI, oldest first")
    registered_at: datetime
    updated_at: datetime
    version: int = Field(
        description="1 at registration, one more with every change (0: not changed since "
        "before versions existed); also the response's ETag. Send it to the interventions "
        "service as Gayari-Household-Version to have it decide on this state or a newer one"
    )

    @classmethod
    def of(cls, household: Household) -> HouseholdView:
        # The household's fields are validated already, with the same types: taken as they
        # are (dumping them to a dict and validating that again cost more than the write).
        fields = {name: getattr(household, name) for name in cls.model_fields if name != "status"}
        return cls.model_construct(**fields, status=household.status)


class EnrolmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cohort_year: Integer = Field(ge=2000, le=2100, description="The GAYARI cohort, e.g. 2026")
    enrolled_on: IsoDate | None = Field(
        default=None,
        description="The day of an enrolment typed in after the fact, in the calendar of the "
        "household's province (WIB in Lamandau; WITA, WIT elsewhere): not in the future, not "
        "before the day of the household's registration or last exit. Defaults to today.",
    )


class ExitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ExitReason = Field(description="graduated means the household became self-reliant")
    exited_on: IsoDate | None = Field(
        default=None,
        description="The day of an exit typed in after the fact, in the calendar of the "
        "household's province (WIB in Lamandau; WITA, WIT elsewhere): not in the future, not "
        "before the day of the enrolment. Defaults to today.",
    )


class DuplicateCandidate(BaseModel):
    id: uuid.UUID
    kk: str
    head_name: str
    status: Status
    registered_at: datetime


class NearDuplicateGroup(BaseModel):
    village_code: str
    head_birth_date: date
    households: list[DuplicateCandidate]


class NearDuplicates(BaseModel):
    groups: list[NearDuplicateGroup]


class RowErrorView(BaseModel):
    column: str
    message: str


class RowReportView(BaseModel):
    row: int = Field(description="Record number in the file; the header is row 1")
    kk: str
    status: Literal["created", "existing", "rejected"]
    household_id: uuid.UUID | None
    errors: list[RowErrorView]


class ImportSummary(BaseModel):
    rows: int
    rows_rejected: int
    households_created: int
    households_existing: int


class ImportReport(BaseModel):
    summary: ImportSummary
    rows: list[RowReportView]
    stopped: str | None = Field(
        default=None, description="Why reading stopped before the end of the file, if it did"
    )


# The Problem schema for the problem+json body too, so that clients (and the fuzz tests'
# schema conformance) know its shape; `model` puts Problem into the components.
PROBLEM: dict[str, Any] = {
    "model": Problem,
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
AUTH: dict[int | str, dict[str, Any]] = {
    401: {**PROBLEM, "description": "No API key, or an unknown, revoked or expired one"},
    403: {**PROBLEM, "description": "The key lacks the role"},
}
# A body that is no JSON object at all: nothing to name but where it breaks.
UNREADABLE: dict[int | str, dict[str, Any]] = {
    400: {
        **PROBLEM,
        "description": f"{NOT_JSON}; or the Idempotency-Key is malformed",
    }
}
# Every response with a household carries its version as a strong ETag, "3".
ETAG: dict[str, Any] = {
    "ETag": {
        "description": "The household's version, as in the body's `version`, quoted",
        "schema": {"type": "string", "example": '"3"'},
    }
}
# Every write but the CSV import honours the Idempotency-Key header (see
# gayari_shared.http.idempotency; IdempotentRoute is a DeclaredQueryRoute too). The import
# reads its body as it arrives, one transaction per KK, and a file sent again registers nothing
# twice (known KKs are reported existing).
router = APIRouter(tags=["households"], route_class=IdempotentRoute)
WRITER = authorized_idempotent(Role.REGISTRY_WRITE)
IMPORTER = authorized(Role.REGISTRY_WRITE)
READER = authorized(Role.REGISTRY_READ)


def _view(household: Household, response: Response) -> HouseholdView:
    """The household as answered, its version in the ETag header."""
    response.headers["ETag"] = f'"{household.version}"'
    return HouseholdView.of(household)


def _answers_written(status_code: int, *, located: bool = False) -> None:
    """How the household a write stores is answered (as `_view`, with a Location header when
    `located`): with an Idempotency-Key, a write of one statement stores that answer with it."""

    def answer(household: Household) -> Answer:
        headers = {"ETag": f'"{household.version}"'}
        if located:
            headers["Location"] = f"/households/{household.id}"
        return json_answer(status_code, HouseholdView.of(household), headers)

    answer_written(answer)


def _deps(request: Request) -> RegistryDeps:
    deps: RegistryDeps = request.app.state.deps
    return deps


@contextmanager
def _as_problems() -> Iterator[None]:
    """Domain refusals as problem details: broken rules 422, state conflicts 409."""
    try:
        yield
    except RuleViolationError as exc:
        violations = (
            exc.violations if isinstance(exc, HouseholdRulesError) else [(exc.field, exc.message)]
        )
        raise ProblemError(
            422,
            "The household breaks a registry rule",
            "; ".join(f"{field}: {message}" for field, message in violations),
            kind="urn:gayari:problem:rule-violation",
            errors=[FieldError(field=field, message=message) for field, message in violations],
        ) from exc
    except ConflictError as exc:
        raise ProblemError(
            409,
            "The household's state does not allow this",
            f"{exc.field}: {exc.message}" if exc.field else exc.message,
            kind=f"urn:gayari:problem:{exc.code}",
            errors=[FieldError(field=exc.field, message=exc.message)] if exc.field else [],
        ) from exc
    except UnknownHouseholdError as exc:
        raise ProblemError(404, "No such household", str(exc)) from exc


@router.post(
    "/households",
    operation_id="registerHousehold",
    dependencies=[WRITER],
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": HouseholdView, "description": "KK already registered", "headers": ETAG},
        201: {"description": "Registered", "headers": ETAG},
        409: {**PROBLEM, "description": "A member's NIK belongs to another household"},
        422: PROBLEM,
        **UNREADABLE,
        **AUTH,
    },
)
async def post_household(
    application: Annotated[HouseholdApplication, Body(openapi_examples=examples.HOUSEHOLD)],
    request: Request,
    response: Response,
) -> HouseholdView:
    # A household is written only when it is new: 201.
    _answers_written(status.HTTP_201_CREATED, located=True)
    with _as_problems():
        result = await register_household(_deps(request), application, current_correlation_id())
    if not result.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/households/{result.household.id}"
    return _view(result.household, response)


@router.get(
    "/households/review/near-duplicates",
    operation_id="listNearDuplicates",
    dependencies=[READER],
    responses={422: PROBLEM, **AUTH},
)
async def list_near_duplicates(
    request: Request,
    trail: AuditTrailDep,
    limit: Annotated[int, Query(ge=1, le=1000, examples=[100]), DIGITS_ONLY] = 100,
) -> NearDuplicates:
    """Households with the same head's name (ignoring case and spaces) and birth date in one
    village: maybe one family under two KKs. Listed for a person to review, never merged."""
    groups = await near_duplicates(_deps(request), limit)
    await trail.read("read:near-duplicates", [h.id for group in groups for h in group])
    return NearDuplicates(
        groups=[
            NearDuplicateGroup(
                village_code=group[0].village_code,
                head_birth_date=group[0].head.birth_date,
                households=[
                    DuplicateCandidate.model_validate({**h.model_dump(), "status": h.status})
                    for h in group
                ],
            )
            for group in groups
        ]
    )


@router.get(
    "/households/{household_id}",
    operation_id="getHousehold",
    dependencies=[READER],
    responses={200: {"headers": ETAG}, 404: PROBLEM, 422: PROBLEM, **AUTH},
)
async def read_household(
    household_id: uuid.UUID, request: Request, response: Response, trail: AuditTrailDep
) -> HouseholdView:
    household = await get_household(_deps(request), household_id)
    if household is None:
        raise ProblemError(404, "No such household", f"household {household_id} is not registered")
    await trail.read("read:household", [household.id])
    return _view(household, response)


@router.patch(
    "/households/{household_id}",
    operation_id="changeHousehold",
    responses={
        200: {"headers": ETAG},
        404: PROBLEM,
        409: PROBLEM,
        422: PROBLEM,
        **UNREADABLE,
        **AUTH,
    },
)
async def patch_household(
    household_id: uuid.UUID,
    change: Annotated[DetailsChange, Body(openapi_examples=examples.DETAILS_CHANGE)],
    request: Request,
    response: Response,
    principal: Principal = WRITER,
) -> HouseholdView:
    """Change the decile, the address, the village or the members (the whole list: quote a
    member's `member_id` to keep it). A household that exited as deceased is closed: only an
    administrator may still correct it."""
    admin = Role.ADMIN in principal.roles
    _answers_written(status.HTTP_200_OK)
    with _as_problems():
        household = await change_household(
            _deps(request), household_id, change, current_correlation_id(), admin=admin
        )
    return _view(household, response)


@router.post(
    "/households/{household_id}/enrolment",
    operation_id="enrolHousehold",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {"headers": ETAG},
        404: PROBLEM,
        409: PROBLEM,
        422: PROBLEM,
        **UNREADABLE,
        **AUTH,
    },
)
async def post_enrolment(
    household_id: uuid.UUID,
    body: Annotated[EnrolmentRequest, Body(openapi_examples=examples.ENROLMENT)],
    request: Request,
    response: Response,
    principal: Principal = WRITER,
) -> HouseholdView:
    """Enrol the household into GAYARI for the caller's own agency. Once at a time; after an
    exit (other than death) it may enrol again, as a new enrolment."""
    if principal.agency is None:
        raise ProblemError(
            403,
            "Forbidden",
            f"key {principal.key_id} ({principal.label}) has no agency to enrol for",
            kind="urn:gayari:problem:forbidden",
        )
    _answers_written(status.HTTP_201_CREATED)
    with _as_problems():
        household = await enrol_household(
            _deps(request),
            household_id,
            body.cohort_year,
            principal.agency,
            current_correlation_id(),
            enrolled_on=body.enrolled_on,
        )
    return _view(household, response)


@router.post(
    "/households/{household_id}/exit",
    operation_id="exitHousehold",
    dependencies=[WRITER],
    responses={
        200: {"headers": ETAG},
        404: PROBLEM,
        409: PROBLEM,
        422: PROBLEM,
        **UNREADABLE,
        **AUTH,
    },
)
async def post_exit(
    household_id: uuid.UUID,
    body: Annotated[ExitRequest, Body(openapi_examples=examples.EXIT)],
    request: Request,
    response: Response,
) -> HouseholdView:
    """The enrolled household leaves GAYARI. Interventions refuse it from then on: send the
    answer's ETag with them (Gayari-Household-Version) to have that decided on this state."""
    _answers_written(status.HTTP_200_OK)
    with _as_problems():
        household = await exit_household(
            _deps(request),
            household_id,
            body.reason,
            current_correlation_id(),
            exited_on=body.exited_on,
        )
    return _view(household, response)


def _report(reports: list[RowReport], stopped: str | None) -> ImportReport:
    def ids(wanted: str) -> int:
        return len({r.household_id for r in reports if r.status == wanted})

    return ImportReport(
        summary=ImportSummary(
            rows=len(reports),
            rows_rejected=sum(r.status == "rejected" for r in reports),
            households_created=ids("created"),
            households_existing=ids("existing"),
        ),
        rows=[
            RowReportView(
                row=r.row,
                kk=r.kk,
                status=r.status,
                household_id=r.household_id,
                errors=[RowErrorView(column=e.column, message=e.message) for e in r.errors],
            )
            for r in reports
        ],
        stopped=stopped,
    )


CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}, "example": examples.CSV}},
    }
}


@router.post(
    "/households/import",
    operation_id="importHouseholds",
    dependencies=[IMPORTER],
    openapi_extra=CSV_BODY,
    responses={415: PROBLEM, 422: PROBLEM, **AUTH},
)
async def import_csv(
    request: Request,
    first_row: Annotated[
        int,
        Query(
            ge=1,
            description="The header's row number, when the body is part of a file",
            examples=[1],
        ),
        DIGITS_ONLY,
    ] = 1,
) -> ImportReport:
    """Register the households of a CSV (one row per member; columns kk, village_code, rt, rw,
    address, welfare_decile, nik, name, sex, birth_date, relationship; the rows of one KK
    together). The body is read as it arrives. Each KK is registered whole or rejected; KKs
    registered already are reported as existing and not changed, so a file can be sent again."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "text/csv":
        raise ProblemError(415, "Unsupported media type", "send the file as text/csv")
    stream = CsvStream(request.stream(), first_row)
    records = stream.records()
    first = await anext(records, None)
    if first is None:
        raise _bad_file("body", stream.error or "the file is empty")
    header = header_of(first[1])
    if missing := missing_columns(header):
        raise _bad_file(missing, "missing column")
    rows = _rows(records, header)
    reports = [r async for r in import_households(_deps(request), rows, current_correlation_id())]
    if stream.error is not None:
        reports.append(
            RowReport(
                row=stream.last_row + 1,
                kk="",
                status="rejected",
                errors=(RowError("row", stream.error),),
            )
        )
    return _report(reports, stream.error)


def _bad_file(fields: str | list[str], message: str) -> ProblemError:
    names = [fields] if isinstance(fields, str) else fields
    return ProblemError(
        422,
        "The file is not a household CSV",
        f"{', '.join(names)}: {message}",
        kind="urn:gayari:problem:invalid-request",
        errors=[FieldError(field=name, message=message) for name in names],
    )


async def _rows(
    records: AsyncIterator[tuple[int, list[str]]], header: list[str]
) -> AsyncIterator[CsvRecord]:
    async for number, fields in records:
        yield CsvRecord(number, dict(zip(header, fields, strict=False)))
