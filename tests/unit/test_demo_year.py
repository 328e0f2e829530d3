"""The plan of the demo's year (deploy/local/demo_year.py): every day where the services take it."""

from __future__ import annotations

import random
from datetime import date, timedelta

from deploy.local.demo_year import DOUBLE_FUNDED, first_of_month, months_of, plan_year

TODAY = date(2026, 3, 15)
AGENCIES = ["dinsos", "dispar", "distakan", "dkukmpp"]


def test_the_year_is_the_last_twelve_months() -> None:
    assert first_of_month(TODAY, 11) == date(2025, 4, 1)
    assert first_of_month(date(2026, 12, 7), 11) == date(2026, 1, 1)
    assert months_of(TODAY) == (date(2025, 4, 1), (TODAY - date(2025, 4, 1)).days + 1)


def test_every_household_is_planned_within_the_year_in_the_order_the_services_require() -> None:
    plans = plan_year(random.Random(3), TODAY, 400, AGENCIES, "dkukmpp")
    start, _ = months_of(TODAY)
    for plan in plans:
        assert start <= plan.registered_on <= plan.enrolled_on <= TODAY
        days = [*(v.on for v in plan.visits), *(s.on for s in plan.surveys)]
        if plan.grant_on is not None:
            days.append(plan.grant_on)
        assert all(plan.enrolled_on <= day <= TODAY for day in days)
        if plan.exit is not None:
            assert plan.exit[1] >= plan.last_day
    never = [p for p in plans if p.lead is None]
    old = [p for p in never if p.enrolled_on < TODAY - timedelta(days=90)]
    assert old, "some households enrolled long ago are never reached (unserved)"
    assert sum(p.second_grant is not None for p in plans) == DOUBLE_FUNDED
    assert any(p.imported for p in plans)
    assert any(p.exit and p.exit[0] == "graduated" for p in plans)
    assert {p.enrolled_on.month for p in plans} == set(range(1, 13))
