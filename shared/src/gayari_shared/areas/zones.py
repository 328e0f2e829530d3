"""Indonesia's three time zones by province, and a record's calendar day and fiscal year in
its province's zone.

Keputusan Presiden 41/1987 (in force since 1 January 1988) divides the country into three
zones: WIB (UTC+7) for Sumatra, Java and Madura, West and Central Kalimantan; WITA (UTC+8) for
Bali, West and East Nusa Tenggara, South and East Kalimantan and Sulawesi; WIT (UTC+9) for
Maluku and Papua (then Irian Jaya). Provinces made since by splitting one keep the zone of the
province they came from: Kepulauan Bangka Belitung and Kepulauan Riau (Sumatra) WIB;
Kalimantan Utara (from Kalimantan Timur), Gorontalo and Sulawesi Barat WITA; Maluku Utara and
the Papua provinces WIT. No zone observes daylight saving time.

The fiscal year is the calendar year (UU 17/2003), so a record's fiscal year is the year of its
calendar day, both counted in the zone of the province the household lives in: Lamandau
(62.09, Kalimantan Tengah) counts in WIB, a household in Jayapura (91) in WIT.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

Zone = Literal["WIB", "WITA", "WIT"]

# The IANA zone of each: Asia/Pontianak (Kalimantan Barat) keeps UTC+7 as Asia/Jakarta does.
ZONES: Final[dict[Zone, ZoneInfo]] = {
    "WIB": ZoneInfo("Asia/Jakarta"),
    "WITA": ZoneInfo("Asia/Makassar"),
    "WIT": ZoneInfo("Asia/Jayapura"),
}

# Every province of the Kemendagri codes (areas/data/provinces.csv), by its two-digit code.
PROVINCE_ZONES: Final[dict[str, Zone]] = {
    **dict.fromkeys(("11", "12", "13", "14", "15", "16", "17", "18", "19", "21"), "WIB"),
    **dict.fromkeys(("31", "32", "33", "34", "35", "36"), "WIB"),
    **dict.fromkeys(("61", "62"), "WIB"),  # Kalimantan Barat, Kalimantan Tengah
    **dict.fromkeys(("51", "52", "53"), "WITA"),  # Bali, NTB, NTT
    **dict.fromkeys(("63", "64", "65"), "WITA"),  # Kalimantan Selatan, Timur, Utara
    **dict.fromkeys(("71", "72", "73", "74", "75", "76"), "WITA"),  # Sulawesi, Gorontalo
    **dict.fromkeys(("81", "82"), "WIT"),  # Maluku, Maluku Utara
    **dict.fromkeys(("91", "92", "93", "94", "95", "96"), "WIT"),  # the Papua provinces
}


def zone_of(area_code: str) -> Zone:
    """The zone of an area (a province, regency, district or village code, e.g.
    "62.09.01.2001"): its province's. An unknown province is a ValueError."""
    province = area_code[:2]
    try:
        return PROVINCE_ZONES[province]
    except KeyError:
        raise ValueError(f"{area_code!r} is in no province of Indonesia") from None


def zone_info(area_code: str) -> ZoneInfo:
    """The IANA zone of an area's province."""
    return ZONES[zone_of(area_code)]


def local_day(moment: datetime, area_code: str) -> date:
    """The calendar day of `moment` (aware) in the area's zone."""
    return moment.astimezone(zone_info(area_code)).date()


def fiscal_year(moment: datetime, area_code: str) -> int:
    """The fiscal year of `moment` in the area's zone: the year of its calendar day there."""
    return local_day(moment, area_code).year


def zone_case_sql(code: str) -> str:
    """An SQL expression: the IANA zone of the province of the area code that the SQL
    expression `code` gives, 'Asia/Jakarta' (Lamandau's) where it is NULL or names no province
    (a household not known yet). `timestamptz AT TIME ZONE` it is immutable."""

    def provinces(zone: Zone) -> str:
        return ", ".join(f"'{p}'" for p, z in sorted(PROVINCE_ZONES.items()) if z == zone)

    return (
        f"CASE WHEN left({code}, 2) IN ({provinces('WITA')}) THEN '{ZONES['WITA'].key}' "
        f"WHEN left({code}, 2) IN ({provinces('WIT')}) THEN '{ZONES['WIT'].key}' "
        f"ELSE '{ZONES['WIB'].key}' END"
    )
