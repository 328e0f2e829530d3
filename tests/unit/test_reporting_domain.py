"""The pure parts of the read models: filters, the area hierarchy, roll-ups, suppression,
shares, tables and their XLSX number formats."""

from __future__ import annotations

import io
from datetime import date

import openpyxl  # type: ignore[import-untyped]
import pytest

from gayari_reporting.adapters.areas import area_index
from gayari_reporting.adapters.spreadsheets import RUPIAH_FORMAT, to_csv, to_xlsx
from gayari_reporting.domain.areas import Area, AreaIndex, contains, level_of, parent_code
from gayari_reporting.domain.filters import (
    ALL_FILTERS,
    PAGE_FILTERS,
    Filters,
    InvalidQueryError,
    decode_cursor,
    encode_cursor,
    month_end,
    parse_filters,
)
from gayari_reporting.domain.privacy import PublicCounts, public_figures
from gayari_reporting.domain.readmodels import (
    AgencyFigures,
    AreaFigures,
    DecileMove,
    agency_rows,
    convergence,
    decile_movement,
    percent,
    roll_up,
)
from gayari_reporting.domain.tables import table_of

AGENCIES = {"dinsos", "dispar", "distakan", "dkukmpp"}


def parse(*params: tuple[str, str], allowed: frozenset[str] = ALL_FILTERS) -> object:
    return parse_filters(list(params), allowed, agencies=AGENCIES, areas=area_index())


def test_filters_parse_and_name_each_bad_parameter() -> None:
    f = parse(("agency", "dinsos"), ("district", "62.09.01"), ("month", "2026-03"))
    assert f == parse_filters(
        [("month", "2026-03"), ("district", "62.09.01"), ("agency", "dinsos")],
        ALL_FILTERS,
        agencies=AGENCIES,
        areas=area_index(),
    )
    with pytest.raises(InvalidQueryError) as caught:
        parse(
            ("agency", "bappeda"),
            ("area", "99.99"),
            ("district", "62.09"),
            ("month", "2026-13"),
            ("fiscal_year", "26"),
            ("colour", "red"),
            ("agency", "dinsos"),
        )
    named = [e.parameter for e in caught.value.errors]
    assert sorted(set(named)) == sorted(
        {"agency", "area", "district", "month", "fiscal_year", "colour"}
    )
    with pytest.raises(InvalidQueryError):
        parse(("days", "30"))  # not a parameter of every view
    with pytest.raises(InvalidQueryError):
        parse(("as_of", "2026-02-30"), allowed=frozenset({"as_of"}))


@pytest.mark.parametrize(
    "key", [(2026, "62.09.03.2001", "6f1c4e0e-0000-4000-8000-000000000001", "capital"), (1,), ()]
)
def test_a_cursor_names_its_key_and_nothing_else_is_one(key: tuple[int | str, ...]) -> None:
    assert decode_cursor(encode_cursor(key)) == key
    page = parse(("limit", "50"), ("after", encode_cursor(key)), allowed=PAGE_FILTERS)
    assert isinstance(page, Filters) and (page.limit, page.after) == (50, key)


@pytest.mark.parametrize(
    "text",
    ["", "not a cursor", "e30", "W3RydWVd", "W1tdXQ", "W3t9XQ", "x" * 600, "_-_-"],
)
def test_what_is_not_a_cursor_is_refused(text: str) -> None:
    # e30: {}; W3RydWVd: [true]; W1tdXQ: [[]]; W3t9XQ: [{}]
    assert decode_cursor(text) is None
    with pytest.raises(InvalidQueryError) as refused:
        parse(("after", text), allowed=PAGE_FILTERS)
    assert [e.parameter for e in refused.value.errors] == ["after"]


def test_area_codes_nest_by_prefix() -> None:
    assert [level_of(c) for c in ("", "62", "62.09", "62.09.01", "62.09.01.2001", "6.2")] == [
        "country",
        "province",
        "regency",
        "district",
        "village",
        None,
    ]
    assert contains("62.09", "62.09.01.2001") and not contains("62.0", "62.09.01.2001")
    assert parent_code("62.09.01.2001") == "62.09.01" and parent_code("62") == ""
    index = area_index()
    assert index.get("62.09") == Area("62.09", "Kabupaten Lamandau", "regency")
    assert all(a.code.startswith("62.09.") for a in index.children("62.09"))
    assert len(index.children("")) == 38


def test_roll_up_adds_children_and_lists_empty_ones() -> None:
    index = AreaIndex(
        [
            Area("62", "P", "province"),
            Area("62.09", "R", "regency"),
            Area("62.09.01", "A", "district"),
            Area("62.09.02", "B", "district"),
        ]
    )
    area = index.get("62.09")
    assert area is not None
    report = roll_up(
        area,
        index.children("62.09"),
        {
            "62.09.01": AreaFigures(
                code="62.09.01", name="", level="village", households_registered=3, idr_disbursed=10
            )
        },
    )
    assert [c.code for c in report.children] == ["62.09.01", "62.09.02"]
    assert report.children[1].households_registered == 0
    assert report.area.households_registered == 3 and report.area.idr_disbursed == 10


def test_shares_suppression_and_deciles() -> None:
    assert percent(1, 3) == 33.33 and percent(1, 0) is None
    shown = public_figures(PublicCounts(12, 10, 5, 9, 6, 5, 7, 1_000_000))
    assert shown["households_registered"].value == 12
    assert shown["collaboration_percent"].value == 50.0
    hidden = public_figures(PublicCounts(4, 4, 0, 3, 1, 1, 2, 1_000_000))
    assert all(f.suppressed and f.value is None for f in hidden.values())
    moves = decile_movement(
        [
            DecileMove(from_decile=1, to_decile=3, households=2),
            DecileMove(from_decile=2, to_decile=2, households=1),
            DecileMove(from_decile=3, to_decile=1, households=4),
        ]
    )
    assert (moves.improved, moves.unchanged, moves.worsened) == (2, 1, 4)


def test_convergence_and_agency_rows() -> None:
    c = convergence({}, {1: 5, 2: 3, 5: 1}, {2: 2, 5: 1}, 8, 4)
    assert [r.agencies for r in c.reached_by] == [1, 2, 3, 4, 5]
    assert c.households_reached == 9 and c.enrolled_reached_by_two_or_more == 3
    assert c.collaboration_percent == 37.5
    rows = agency_rows(
        {"dinsos": "Dinas Sosial", "dispar": "Dinas Pariwisata"},
        {
            "dinsos": AgencyFigures(agency="dinsos", name="x", idr_disbursed=25),
            "old": AgencyFigures(agency="old", name="old", idr_disbursed=1),
        },
        {"dinsos": 100},
    )
    assert [r.agency for r in rows] == ["dinsos", "dispar", "old"]
    assert rows[0].realisation_percent == 25.0 and rows[1].realisation_percent is None


def test_tables_render_as_csv_and_indonesian_xlsx() -> None:
    table = table_of(
        "agencies",
        [
            AgencyFigures(
                agency="dinsos",
                name="Dinas Sosial",
                idr_disbursed=1_500_000,
                realisation_percent=12.5,
            )
        ],
    )
    kinds = {c.name: c.kind for c in table.columns}
    assert kinds["idr_disbursed"] == "idr" and kinds["realisation_percent"] == "percent"
    assert kinds["households_reached"] == "count" and kinds["name"] == "text"
    assert to_csv(table).decode().splitlines()[1].startswith("dinsos,Dinas Sosial,0,")
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(table))).active
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(2, header.index("idr_disbursed") + 1)
    assert cell.value == 1_500_000 and cell.number_format == RUPIAH_FORMAT
    assert sheet.cell(2, header.index("realisation_percent") + 1).value == 0.125
    assert month_end(date(2026, 12, 1)) == date(2027, 1, 1)
