"""Kemendagri area codes (province, regency, district, village), shipped with the package.

The data is the `idn-area-data` set (ODbL 1.0); see data/SOURCE.md and data/LICENSE.md.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib.resources import files


@dataclass(frozen=True, slots=True)
class Village:
    code: str
    name: str
    district_code: str
    district_name: str
    regency_code: str
    regency_name: str
    province_code: str
    province_name: str


class AreaDirectory:
    """Read-only lookup of villages by their dotted Kemendagri code (PP.KK.CC.DDDD)."""

    def __init__(self, villages: dict[str, Village]) -> None:
        self._villages = villages

    def village(self, code: str) -> Village | None:
        return self._villages.get(code)

    def villages_in(self, prefix: str) -> list[Village]:
        """Villages whose code starts with an area prefix, e.g. '62.09' for Lamandau."""
        stem = prefix if prefix.endswith(".") else prefix + "."
        return [v for code, v in self._villages.items() if code.startswith(stem)]

    def __len__(self) -> int:
        return len(self._villages)


def _read(name: str) -> list[dict[str, str]]:
    text = files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def load_areas() -> AreaDirectory:
    """The national directory; loaded once per process (~84k villages, well under a second)."""
    provinces = {r["code"]: r["name"] for r in _read("provinces.csv")}
    regencies = {r["code"]: (r["name"], r["province_code"]) for r in _read("regencies.csv")}
    districts = {r["code"]: (r["name"], r["regency_code"]) for r in _read("districts.csv")}
    villages: dict[str, Village] = {}
    for row in _read("villages.csv"):
        district_name, regency_code = districts[row["district_code"]]
        regency_name, province_code = regencies[regency_code]
        villages[row["code"]] = Village(
            code=row["code"],
            name=row["name"],
            district_code=row["district_code"],
            district_name=district_name,
            regency_code=regency_code,
            regency_name=regency_name,
            province_code=province_code,
            province_name=provinces[province_code],
        )
    return AreaDirectory(villages)
