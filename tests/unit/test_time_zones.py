"""A record's calendar day and fiscal year in its province's zone (Keppres 41/1987)."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from importlib.resources import files

import pytest

from gayari_shared.areas.zones import PROVINCE_ZONES, fiscal_year, local_day, zone_of


def test_every_province_has_its_zone() -> None:
    text = files("gayari_shared.areas").joinpath("data", "provinces.csv").read_text("utf-8")
    provinces = {row["code"] for row in csv.DictReader(text.splitlines())}
    assert provinces == set(PROVINCE_ZONES)


@pytest.mark.parametrize(
    ("code", "zone"),
    [
        ("62.09.01.2001", "WIB"),  # Lamandau, Kalimantan Tengah
        ("61", "WIB"),  # Kalimantan Barat
        ("31.71", "WIB"),  # Jakarta
        ("21", "WIB"),  # Kepulauan Riau
        ("51", "WITA"),  # Bali
        ("53", "WITA"),  # Nusa Tenggara Timur
        ("63", "WITA"),  # Kalimantan Selatan
        ("65", "WITA"),  # Kalimantan Utara
        ("75", "WITA"),  # Gorontalo
        ("82", "WIT"),  # Maluku Utara
        ("91.71", "WIT"),  # Kota Jayapura
        ("96", "WIT"),  # Papua Barat Daya
    ],
)
def test_the_zone_is_the_provinces(code: str, zone: str) -> None:
    assert zone_of(code) == zone


@pytest.mark.parametrize("code", ["99.01", "", "6"])
def test_an_area_in_no_province_is_refused(code: str) -> None:
    with pytest.raises(ValueError, match="no province"):
        zone_of(code)


# 16:30 UTC is 23:30 in WIB, 00:30 the next day in WITA, 01:30 in WIT.
BOUNDARY = datetime(2026, 3, 10, 16, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "code", "day"),
    [
        (BOUNDARY, "62.09", date(2026, 3, 10)),
        (BOUNDARY, "73.71", date(2026, 3, 11)),
        (BOUNDARY, "91.71", date(2026, 3, 11)),
        (datetime(2026, 3, 10, 15, 59, tzinfo=UTC), "73.71", date(2026, 3, 10)),
        (datetime(2026, 3, 10, 16, 0, tzinfo=UTC), "73.71", date(2026, 3, 11)),
        (datetime(2026, 3, 10, 14, 59, tzinfo=UTC), "91.71", date(2026, 3, 10)),
        (datetime(2026, 3, 10, 15, 0, tzinfo=UTC), "91.71", date(2026, 3, 11)),
        (datetime(2026, 3, 10, 16, 59, tzinfo=UTC), "62.09", date(2026, 3, 10)),
        (datetime(2026, 3, 10, 17, 0, tzinfo=UTC), "62.09", date(2026, 3, 11)),
    ],
)
def test_the_calendar_day_turns_at_midnight_in_the_provinces_zone(
    moment: datetime, code: str, day: date
) -> None:
    assert local_day(moment, code) == day


def test_new_years_eve_is_next_years_fiscal_year_earlier_in_the_east() -> None:
    moment = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    assert fiscal_year(moment, "62.09.01.2001") == 2026
    assert fiscal_year(moment, "51.71") == 2027
    assert fiscal_year(moment, "94") == 2027
