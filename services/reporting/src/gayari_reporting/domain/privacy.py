"""Public figures: small counts are suppressed so that no family can be singled out.

A count below the threshold (5 households) is published as null with `suppressed: true`, and
so is every figure derived from fewer households than that (a Rupiah total of three grants
tells what each family received, a share of 4 households is a count in disguise). Children of
an area are not published: with a parent total and all but one child shown, the suppressed child
could be worked out by subtraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gayari_reporting.domain.readmodels import PublicFigure, percent

THRESHOLD: Final = 5


@dataclass(frozen=True, slots=True)
class PublicCounts:
    registered: int
    enrolled: int
    graduated: int
    reached: int
    reached_by_two_or_more: int
    enrolled_reached_by_two_or_more: int
    households_with_grants: int
    idr_disbursed: int


def _count(value: int, threshold: int) -> PublicFigure:
    if value < threshold:
        return PublicFigure(value=None, suppressed=True)
    return PublicFigure(value=value, suppressed=False)


def _guarded(value: int | float | None, households: list[int], threshold: int) -> PublicFigure:
    if value is None or any(n < threshold for n in households):
        return PublicFigure(value=None, suppressed=True)
    return PublicFigure(value=value, suppressed=False)


def public_figures(c: PublicCounts, threshold: int = THRESHOLD) -> dict[str, PublicFigure]:
    return {
        "households_registered": _count(c.registered, threshold),
        "households_enrolled": _count(c.enrolled, threshold),
        "households_graduated": _count(c.graduated, threshold),
        "households_reached": _count(c.reached, threshold),
        "households_reached_by_two_or_more": _count(c.reached_by_two_or_more, threshold),
        "idr_disbursed": _guarded(c.idr_disbursed, [c.households_with_grants], threshold),
        "collaboration_percent": _guarded(
            percent(c.enrolled_reached_by_two_or_more, c.enrolled),
            [c.enrolled_reached_by_two_or_more, c.enrolled],
            threshold,
        ),
    }
