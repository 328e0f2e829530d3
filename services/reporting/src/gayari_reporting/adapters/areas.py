"""The area index, built from the Kemendagri data shipped in gayari_shared.areas.

The shared AreaDirectory looks villages up one at a time; reporting needs every province,
regency and district with its name and children, so it reads the same files once at start.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files

from gayari_reporting.domain.areas import Area, AreaIndex, Level

_FILES: tuple[tuple[str, Level], ...] = (
    ("provinces.csv", "province"),
    ("regencies.csv", "regency"),
    ("districts.csv", "district"),
    ("villages.csv", "village"),
)


@cache
def area_index() -> AreaIndex:
    data = files("gayari_shared.areas").joinpath("data")
    areas: list[Area] = []
    for name, level in _FILES:
        text = data.joinpath(name).read_text(encoding="utf-8")
        areas.extend(Area(r["code"], r["name"], level) for r in csv.DictReader(text.splitlines()))
    return AreaIndex(areas)
