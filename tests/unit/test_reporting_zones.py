"""The read models' zone of a household (SQL `area_zone`, read-model migrations) is the zone
gayari_shared.areas.zones gives its province; Lamandau's (WIB) where none is known."""

from __future__ import annotations

import re

import pytest

from gayari_reporting.adapters import zone_sql
from gayari_reporting.adapters.generations import READ_MODELS
from gayari_reporting.domain.calendar import zone_of, zone_of_areas
from gayari_shared.areas.zones import PROVINCE_ZONES, ZONES, zone_info

WHEN = re.compile(r"WHEN left\(area, 2\) IN \(([^)]*)\) THEN '([A-Za-z/]+)'")
ELSE = re.compile(r"ELSE '([A-Za-z/]+)' END")


def latest_definition() -> str:
    """The text of the latest read-model migration that (re)defines area_zone: what every
    generation holds once migrated."""
    defining = [m for m in READ_MODELS.migrations if "FUNCTION area_zone" in m.sql]
    assert defining, "no read-model migration defines area_zone"
    return defining[-1].sql


def sql_mapping(sql: str) -> tuple[dict[str, str], str]:
    """The function's CASE read back from the migration's text: province -> IANA zone, and the
    zone of anything else."""
    mapping: dict[str, str] = {}
    for codes, zone in WHEN.findall(sql):
        for code in re.findall(r"'([0-9]{2})'", codes):
            assert code not in mapping, f"province {code} is listed twice"
            mapping[code] = zone
    (default,) = ELSE.findall(sql)
    return mapping, default


def test_the_migration_holds_the_function_this_release_generates() -> None:
    assert zone_sql.AREA_ZONE_FUNCTION in latest_definition()


def test_the_sql_mapping_is_the_python_one_for_every_province() -> None:
    mapping, default = sql_mapping(latest_definition())
    assert default == "Asia/Jakarta"
    for province, zone in PROVINCE_ZONES.items():
        assert mapping.get(province, default) == ZONES[zone].key, province
    # Only provinces of Indonesia are named, and none of them in WIB (the default).
    assert set(mapping) <= set(PROVINCE_ZONES)
    assert "Asia/Jakarta" not in mapping.values()


@pytest.mark.parametrize("code", ["62.09.01.2001", "91.71", "73", "51.71.01", "82"])
def test_the_reports_zone_is_the_provinces(code: str) -> None:
    assert zone_of(code) == zone_info(code)


@pytest.mark.parametrize("code", [None, "", "99.01", "6"])
def test_a_household_of_no_known_province_counts_in_lamandaus_zone(code: str | None) -> None:
    assert zone_of(code).key == "Asia/Jakarta"


def test_today_is_where_the_deepest_area_asked_lies() -> None:
    assert zone_of_areas(()).key == "Asia/Jakarta"
    assert zone_of_areas(("91", "91.71")).key == "Asia/Jayapura"
    assert zone_of_areas(("73.71.01",)).key == "Asia/Makassar"


def test_the_sql_expressions_name_the_households_village() -> None:
    assert zone_sql.day("x.issued_at", "st.village_code") == (
        "(x.issued_at AT TIME ZONE area_zone(st.village_code))::date"
    )
