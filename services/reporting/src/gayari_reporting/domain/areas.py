"""The Kemendagri hierarchy as reporting walks it: province > regency > district > village.

Codes nest by prefix (62 > 62.09 > 62.09.01 > 62.09.01.2001) and each level has a fixed length,
so "the villages under an area" is a prefix match on the village code and "the child an area's
figure rolls up to" is the first N characters of it; nothing else needs the tree in SQL.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

Level = Literal["country", "province", "regency", "district", "village"]

CODE_PATTERN: Final = re.compile(r"^\d{2}(?:\.\d{2}(?:\.\d{2}(?:\.\d{4})?)?)?$")
LENGTH: Final[dict[Level, int]] = {
    "country": 0,
    "province": 2,
    "regency": 5,
    "district": 8,
    "village": 13,
}
_LEVEL_OF_LENGTH: Final[dict[int, Level]] = {n: level for level, n in LENGTH.items()}
CHILD: Final[dict[Level, Level | None]] = {
    "country": "province",
    "province": "regency",
    "regency": "district",
    "district": "village",
    "village": None,
}


def level_of(code: str) -> Level | None:
    """The level a well-formed code names; None for anything else."""
    if code == "":
        return "country"
    if not CODE_PATTERN.match(code):
        return None
    return _LEVEL_OF_LENGTH.get(len(code))


def contains(area: str, village_code: str) -> bool:
    """True if the village lies in the area (the country contains every village)."""
    if area in ("", village_code):
        return True
    return village_code.startswith(area + ".")


@dataclass(frozen=True, slots=True)
class Area:
    code: str  # "" for the country
    name: str
    level: Level


COUNTRY: Final = Area("", "Indonesia", "country")


class AreaIndex:
    """Every area by code, and each area's children; built once from the village list."""

    def __init__(self, areas: Iterable[Area]) -> None:
        self._areas: dict[str, Area] = {COUNTRY.code: COUNTRY}
        children: dict[str, list[Area]] = defaultdict(list)
        for area in areas:
            self._areas[area.code] = area
        for area in self._areas.values():
            if area.level != "country":
                children[parent_code(area.code)].append(area)
        self._children = {
            code: sorted(kids, key=lambda a: a.code) for code, kids in children.items()
        }

    def get(self, code: str) -> Area | None:
        return self._areas.get(code)

    def children(self, code: str) -> list[Area]:
        return list(self._children.get(code, ()))

    def __len__(self) -> int:
        return len(self._areas)


def parent_code(code: str) -> str:
    """The code of the area one level up ("" for a province: the country)."""
    level = level_of(code)
    if level in (None, "country", "province"):
        return ""
    return code.rsplit(".", 1)[0]


def children_length(area: Area, index: AreaIndex) -> int:
    """The code length of the area's children (its own for a village, which has none)."""
    kids = index.children(area.code)
    return len(kids[0].code) if kids else len(area.code)
