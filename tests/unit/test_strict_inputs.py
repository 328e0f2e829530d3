"""The strict input types (gayari_shared.inputs), the 400 for a body that is not JSON, and the
intake's reasons; and the event contracts, which stay as lenient as they were."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field, ValidationError

from gayari_interventions.domain.intake import IntakeRejectedError, validate_intake
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.interventions import GrantIssuedV2
from gayari_shared.http.problems import install_problem_handlers
from gayari_shared.inputs import DIGITS_ONLY, FreeText, Integer, IsoDate, SingleLine, Text30


class Sample(BaseModel):
    count: Integer | None = Field(default=None, ge=0, le=10)
    written: Annotated[int, Field(ge=1, le=10), DIGITS_ONLY] | None = None
    name: Text30 | None = None
    line: SingleLine | None = None
    notes: FreeText | None = None
    day: IsoDate | None = None


def refused(**fields: Any) -> list[str]:
    try:
        Sample.model_validate(fields)
    except ValidationError as exc:
        return [".".join(map(str, e["loc"])) for e in exc.errors()]
    return []


@pytest.mark.parametrize("value", [True, False, "3", "3.0", 3.0, 3.5, [3]])
def test_a_json_integer_is_an_integer_only(value: Any) -> None:
    assert refused(count=value) == ["count"]


def test_a_json_integer_within_bounds_is_taken() -> None:
    assert Sample.model_validate({"count": 3}).count == 3
    assert refused(count=11) == ["count"]


@pytest.mark.parametrize("text", ["3.0", "+3", "1e1", "true", "\u0663", " 3", "", "3\x00"])
def test_a_written_integer_is_digits_only(text: str) -> None:
    assert refused(written=text) == ["written"]


def test_a_written_integer_in_digits_is_taken_and_bounded() -> None:
    assert Sample.model_validate({"written": "7"}).written == 7
    assert refused(written="11") == ["written"]
    assert refused(written="-1") == ["written"]
    assert refused(written="9" * 40) == ["written"]


def test_bounds_are_published_as_minimum_and_maximum() -> None:
    # The before-validator must not hide a field's bounds from the OpenAPI document.
    properties = Sample.model_json_schema()["properties"]
    written = properties["written"]["anyOf"][0]
    assert (written["type"], written["minimum"], written["maximum"]) == ("integer", 1, 10)
    count = properties["count"]["anyOf"][0]
    assert (count["type"], count["minimum"], count["maximum"]) == ("integer", 0, 10)


@pytest.mark.parametrize(
    "text", ["a\x00b", "a\x01b", "a\x1bb", "a\x7fb", "a\x85b", "a\x9fb", "a\tb", "a\nb", "a\rb"]
)
def test_one_line_of_text_has_no_control_character(text: str) -> None:
    assert refused(name=text, line=text) == ["name", "line"]


@pytest.mark.parametrize("text", ["a\x00b", "a\x0bb", "a\x0cb", "a\x1bb", "a\x7fb", "a\x85b"])
def test_free_text_has_no_control_character_but_tab_and_line_breaks(text: str) -> None:
    assert refused(notes=text) == ["notes"]


def test_free_text_takes_tab_and_line_breaks_and_any_script() -> None:
    notes = "Kolam dua petak.\r\n\tPanen: 50 kg — ikan nila 🐟, 中文, العربية"
    assert Sample.model_validate({"notes": notes}).notes == notes
    assert Sample.model_validate({"name": "  Siti Aminah "}).name == "Siti Aminah"


def test_a_number_or_a_boolean_is_not_a_text() -> None:
    assert refused(name=5, line=True, notes=1.5) == ["name", "line", "notes"]


def test_the_reason_says_which_character_and_where() -> None:
    with pytest.raises(ValidationError, match=r"U\+0000\) at position 4"):
        Sample.model_validate({"line": "Siti\x00"})


@pytest.mark.parametrize("value", [0, 1.7e9, "0", "20260102", "2026-01-02T00:00:00", True])
def test_a_day_is_yyyy_mm_dd_only(value: Any) -> None:
    assert refused(day=value) == ["day"]


def body_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def post(body: Sample) -> dict[str, int]:
        return {"ok": 1}

    return app


async def post(content: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=body_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(
            "/things", content=content, headers={"content-type": "application/json"}
        )


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b'{"count": ', "line 1, column 11 (position 10)"),
        (b'{\n  "count": 1,\n  "name": }', "line 3, column 11 (position 26)"),
        (b'{"name": "a\x00"}', "line 1, column 12 (position 11)"),
    ],
)
async def test_malformed_json_is_a_400_saying_where(content: bytes, where: str) -> None:
    reply = await post(content)
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["type"] == "urn:gayari:problem:invalid-json"
    assert problem["title"] == "The body is not valid JSON"
    assert where in problem["detail"]
    assert problem["errors"] == [{"field": "body", "message": problem["detail"].split(": ", 1)[1]}]


@pytest.mark.parametrize(
    ("content", "kind"),
    [(b"[]", "an array"), (b'"x"', "a string"), (b"1", "a number"), (b"true", "a boolean")],
)
async def test_json_that_is_not_an_object_is_a_400(content: bytes, kind: str) -> None:
    reply = await post(content)
    assert reply.status_code == 400
    assert reply.json()["title"] == "The body is not a JSON object"
    assert kind in reply.json()["detail"]


async def test_a_wrong_value_in_a_valid_body_is_still_a_422_naming_it() -> None:
    reply = await post(json.dumps({"count": True}).encode())
    assert reply.status_code == 422
    assert [e["field"] for e in reply.json()["errors"]] == ["count"]


HOUSEHOLD = uuid.uuid4()


def intake(data: dict[str, Any], **attributes: str) -> Envelope:
    return Envelope.model_validate(
        {
            "source": "/gayari/agencies/distakan",
            "type": "gayari.intake.business-survey.v1",
            "subject": str(HOUSEHOLD),
            "correlationid": "siks-1",
            **attributes,
            "data": {
                "household_id": str(HOUSEHOLD),
                "agency": "distakan",
                "surveyed_on": date.today().isoformat(),
                "monthly_income_idr": 1_000_000,
                "workers": 2,
                **data,
            },
        }
    )


def test_an_intake_record_of_right_values_is_taken() -> None:
    assert validate_intake(intake({}), "distakan").agency == "distakan"


def test_the_intake_names_each_wrong_value_and_why() -> None:
    with pytest.raises(IntakeRejectedError) as caught:
        validate_intake(intake({"workers": True, "monthly_income_idr": "1000000"}), "distakan")
    assert caught.value.code == "invalid-data"
    assert caught.value.detail == (
        "monthly_income_idr: Input should be a valid integer; "
        "workers: Input should be a valid integer"
    )


def test_a_control_character_in_the_correlation_id_is_an_invalid_cloudevent() -> None:
    with pytest.raises(IntakeRejectedError) as caught:
        validate_intake(intake({}, correlationid="siks\x001"), "distakan")
    assert caught.value.code == "invalid-cloudevent"
    assert "ce_correlationid" in caught.value.detail


def test_published_events_are_read_as_leniently_as_before() -> None:
    # Strictness is for values entering from outside; an event already on the topics (here a
    # grant with a purpose on two lines and an amount written as a string) stays readable.
    event = GrantIssuedV2.model_validate(
        {
            "household_id": str(HOUSEHOLD),
            "grant_id": str(uuid.uuid4()),
            "agency": "distakan",
            "kind": "capital",
            "amount_idr": "1500000",
            "purpose": "Modal\n\tusaha",
            "fiscal_year": 2026,
            "issued_at": datetime.now(UTC).isoformat(),
        }
    )
    assert (event.amount_idr, event.purpose) == (1_500_000, "Modal\n\tusaha")
