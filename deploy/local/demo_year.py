"""The plan of a year of the programme in Lamandau: who registers and enrols when, which
agencies reach whom and when, how incomes move, who graduates. Pure: no I/O; the demo
(deploy/local/demo.py) sends it to the services."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final, Literal

# Of the households enrolled, the share no agency ever reaches (the "unserved" once their
# enrolment is older than reporting's threshold) and the share that graduates.
NEVER_REACHED: Final = 0.12
GRADUATING: Final = 0.3  # of those reached, enrolled for half a year, whose income rose
DOUBLE_FUNDED: Final = 4  # households given a second grant of the same kind by another agency
# Grants the intake agency's own system publishes on its intake topic (deploy/local/demo_intake.py)
# rather than over HTTP: a few, for the intake part of the demo to stay short.
INTAKE_GRANTS: Final = 8
MONTHS: Final = 12


def first_of_month(day: date, back: int) -> date:
    """The first day of the month `back` months before `day`'s."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def months_of(today: date) -> tuple[date, int]:
    """The year simulated: its first day (the first of the month eleven months ago) and its
    length in days, up to and including today."""
    start = first_of_month(today, MONTHS - 1)
    return start, (today - start).days + 1


@dataclass
class Visit:
    agency: str
    on: date


@dataclass
class Survey:
    agency: str
    on: date
    monthly_income_idr: int
    workers: int


@dataclass
class HouseholdPlan:
    """One household's year: its days, the agencies that reach it and what they do."""

    registered_on: date
    enrolled_on: date
    lead: str | None = None  # the agency that gives the grant, surveys and mentors
    grant_on: date | None = None
    second_grant: str | None = None  # another agency's grant of the same kind: double funding
    trainers: list[str] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    surveys: list[Survey] = field(default_factory=list)
    exit: tuple[Literal["graduated", "moved"], date] | None = None
    imported: bool = False  # the lead's grant comes in the agency's spreadsheet
    intake: bool = False  # the lead's grant comes from the agency's system, on its intake topic

    @property
    def last_day(self) -> date:
        days = [self.enrolled_on, *(v.on for v in self.visits), *(s.on for s in self.surveys)]
        return max([*days, *([self.grant_on] if self.grant_on else [])])


def plan_household(
    rng: random.Random, today: date, agencies: list[str], *, spreadsheet_agency: str
) -> HouseholdPlan:
    start, days = months_of(today)
    registered = start + timedelta(days=rng.randrange(days))
    enrolled = min(registered + timedelta(days=rng.randint(0, 14)), today)
    plan = HouseholdPlan(registered_on=registered, enrolled_on=enrolled)
    if rng.random() < NEVER_REACHED:
        return plan
    # An agency reaches a household some weeks after its enrolment: the recently enrolled
    # are not reached yet.
    first = enrolled + timedelta(days=rng.randint(7, 75))
    if first > today:
        return plan
    plan.lead = rng.choice(agencies)
    plan.grant_on = first
    plan.imported = plan.lead == spreadsheet_agency and rng.random() < 0.5
    others = [a for a in agencies if a != plan.lead]
    plan.trainers = [plan.lead, *rng.sample(others, k=rng.choice([0, 0, 1, 1, 2]))]
    # Mentoring with gaps: a visit every one to four months, sometimes none after a while.
    day = first + timedelta(days=rng.randint(20, 60))
    while day <= today and rng.random() < 0.8:
        plan.visits.append(Visit(rng.choice([plan.lead, plan.lead, *plan.trainers]), day))
        day += timedelta(days=rng.randint(30, 120))
    # Incomes: a baseline at the grant, a follow-up after three to six months.
    baseline = rng.randrange(500_000, 3_000_000, 50_000)
    plan.surveys.append(Survey(plan.lead, first, baseline, rng.choice([1, 1, 2])))
    follow_up = first + timedelta(days=rng.randint(90, 180))
    if follow_up <= today:
        factor = rng.choice([0.8, 0.9, 1.0, 1.2, 1.3, 1.5, 1.8])
        income = max(100_000, round(baseline * factor / 50_000) * 50_000)
        plan.surveys.append(Survey(plan.lead, follow_up, income, rng.choice([1, 2, 2, 3])))
        if income > baseline and (today - enrolled).days > 180 and rng.random() < GRADUATING:
            plan.exit = ("graduated", min(plan.last_day + timedelta(days=14), today))
    if plan.exit is None and rng.random() < 0.02:
        plan.exit = ("moved", min(plan.last_day + timedelta(days=30), today))
    return plan


def plan_year(
    rng: random.Random,
    today: date,
    households: int,
    agencies: list[str],
    spreadsheet_agency: str,
    *,
    intake_agency: str,
) -> list[HouseholdPlan]:
    plans = [
        plan_household(rng, today, agencies, spreadsheet_agency=spreadsheet_agency)
        for _ in range(households)
    ]
    granted = [p for p in plans if p.lead is not None and not p.imported and p.exit is None]
    for plan in rng.sample(granted, k=min(DOUBLE_FUNDED, len(granted))):
        plan.second_grant = rng.choice([a for a in agencies if a != plan.lead])
    # Households that stay enrolled: an intake record is taken only while the household is
    # enrolled, and the demo's exits may overtake records still on their way.
    sent = [
        p for p in granted if p.lead == intake_agency and p.second_grant is None and p.exit is None
    ]
    for plan in rng.sample(sent, k=min(INTAKE_GRANTS, len(sent))):
        plan.intake = True
    return plans


def plan_sessions(
    rng: random.Random, today: date, trainings: dict[str, list[str]]
) -> list[tuple[str, dict[str, Any]]]:
    """Each agency's sessions, as (agency, body of POST /training-sessions): each topic about
    every second month over the year."""
    start, _ = months_of(today)
    sessions = []
    for agency, topics in trainings.items():
        for topic in topics:
            day = start + timedelta(days=rng.randint(10, 40))
            while day <= today:
                ends = min(day + timedelta(days=rng.choice([0, 0, 1])), today)
                body = {
                    "topic": topic,
                    "starts_on": day.isoformat(),
                    "ends_on": ends.isoformat(),
                    "hours": rng.choice([8, 16, 24]),
                    "place": f"Balai Desa {rng.choice(['Bukit Raya', 'Tamiang', 'Kujan', 'Guci'])}",
                }
                sessions.append((agency, body))
                day += timedelta(days=rng.randint(45, 75))
    return sessions


def session_for(
    rng: random.Random, sessions: list[dict[str, Any]], after: date
) -> dict[str, Any] | None:
    """One of the agency's sessions that starts after the household's enrolment, if any."""
    fitting = [s for s in sessions if date.fromisoformat(s["starts_on"]) >= after]
    return rng.choice(fitting[:3]) if fitting else None
