"""Simulate a year of a small, realistic GAYARI programme in Lamandau over the running
services, wait until reporting has caught up, and print the progress report and where the
monthly report is.

Households live in the real villages of Lamandau (62.09) from the Kemendagri reference data.
Over the last twelve months they register and enrol; the four agencies give grants and
training the way the agreement describes, mentor with gaps and survey incomes as they move;
some households no agency ever reaches, some graduate; a few get two grants of one kind from
two agencies (double funding), a few grants are voided, one agency sends its grants as a
spreadsheet (POST /imports/grants), and another one's own system publishes some of its grants
on its intake topic as its Kafka principal, with a few mistakes that are refused and counted
in /data-quality (deploy/local/demo_intake.py). Every record carries its own day
(registered_on, enrolled_on, issued_on, ...), so the dashboard's time series has twelve months.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # run as a script: make `deploy.local.*` importable
    sys.path.insert(0, str(REPO_ROOT))

from deploy.local import demo_intake  # noqa: E402
from deploy.local.demo_intake import INTAKE_AGENCY, Enrolled, IntakeRecord  # noqa: E402
from deploy.local.demo_year import (  # noqa: E402
    HouseholdPlan,
    months_of,
    plan_sessions,
    plan_year,
    session_for,
)
from gayari_shared.agencies import DEFAULT_AGENCIES  # noqa: E402
from gayari_shared.areas import Village, load_areas  # noqa: E402
from gayari_shared.events.interventions import JAKARTA  # noqa: E402
from gayari_shared.settings import CommonSettings  # noqa: E402

GIVEN_M = [
    "Agus",
    "Budi",
    "Dedi",
    "Eko",
    "Hendra",
    "Iwan",
    "Joko",
    "Rahmat",
    "Yohanes",
    "Ardi",
    "Sapri",
    "Darmawan",
    "Kristian",
    "Misran",
    "Jumadi",
    "Bahrun",
]
GIVEN_F = [
    "Siti",
    "Sri",
    "Dewi",
    "Rina",
    "Yuliana",
    "Marlina",
    "Nurhayati",
    "Ernawati",
    "Sumiati",
    "Lusiana",
    "Rosita",
    "Maria",
    "Halimah",
    "Fitri",
]
FAMILY = [
    "Saputra",
    "Wijaya",
    "Hidayat",
    "Santoso",
    "Lestari",
    "Ningsih",
    "Anggraini",
    "Ngabe",
    "Tamanggung",
    "Damang",
    "Riwut",
    "Pranata",
    "Kurniawan",
    "Rahayu",
]

# What each agency typically gives and teaches: its GAYARI budget line and yearly budget,
# capital grants (purpose, low, high in IDR), equipment grants (purpose, items as
# (description, unit, unit value, fewest, most)) and training topics.
PROGRAMME: dict[str, dict[str, Any]] = {
    "dinsos": {
        "budget_line": "5.1.05.05.01.0001",
        "budget_idr": 900_000_000,
        "capital": [
            ("Modal usaha warung sembako", 1_000_000, 3_000_000),
            ("Modal usaha kue basah", 1_000_000, 2_000_000),
        ],
        "equipment": [],
        "trainings": ["Kewirausahaan dasar", "Literasi keuangan keluarga"],
    },
    "dispar": {
        "budget_line": "5.1.05.05.02.0003",
        "budget_idr": 600_000_000,
        "capital": [("Modal usaha kuliner wisata", 1_000_000, 2_500_000)],
        "equipment": [
            (
                "Perlengkapan homestay",
                [
                    ("Kasur busa", "buah", 850_000, 1, 3),
                    ("Seprai dan sarung bantal", "set", 150_000, 2, 6),
                    ("Lemari pakaian", "buah", 1_200_000, 1, 2),
                ],
            ),
            (
                "Peralatan kerajinan khas Dayak",
                [("Rotan olahan", "kg", 45_000, 10, 40), ("Pewarna alami", "paket", 120_000, 1, 4)],
            ),
        ],
        "trainings": ["Pengelolaan homestay", "Pemandu wisata desa", "Kerajinan khas Dayak"],
    },
    "distakan": {
        "budget_line": "5.1.05.05.03.0002",
        "budget_idr": 1_200_000_000,
        "capital": [("Modal pembibitan karet", 1_000_000, 2_500_000)],
        "equipment": [
            (
                "Budidaya ikan nila dalam keramba",
                [
                    ("Bibit ikan nila", "ekor", 350, 1000, 5000),
                    ("Jaring keramba", "buah", 750_000, 1, 4),
                    ("Pakan ikan", "karung", 380_000, 2, 6),
                ],
            ),
            (
                "Ternak ayam kampung",
                [
                    ("DOC ayam kampung", "ekor", 9_000, 50, 200),
                    ("Kandang ayam", "unit", 1_500_000, 1, 1),
                ],
            ),
        ],
        "trainings": ["Budidaya ikan nila", "Pembibitan karet", "Ternak ayam kampung"],
    },
    "dkukmpp": {
        "budget_line": "5.1.05.05.04.0001",
        "budget_idr": 800_000_000,
        "capital": [
            ("Modal usaha mikro", 2_000_000, 5_000_000),
            ("Modal pengolahan produk lokal", 2_000_000, 4_000_000),
        ],
        "equipment": [
            (
                "Peralatan pengemasan produk",
                [
                    ("Hand sealer", "buah", 350_000, 1, 2),
                    ("Timbangan digital", "buah", 250_000, 1, 1),
                ],
            )
        ],
        "trainings": ["Pembukuan usaha mikro", "Pemasaran digital", "Pengemasan produk"],
    },
}
BUSINESS_STATUSES = ["running", "running", "growing", "growing", "stalled"]
# The agency that keeps its grants in a spreadsheet and imports it.
SPREADSHEET_AGENCY = "dkukmpp"


def nik(village: Village, birth: date, female: bool, rng: random.Random) -> str:
    day = birth.day + (40 if female else 0)
    district = village.district_code.replace(".", "")
    return f"{district}{day:02d}{birth.month:02d}{birth.year % 100:02d}{rng.randrange(1, 9999):04d}"


def household_body(village: Village, rng: random.Random, registered_on: date) -> dict[str, Any]:
    family = rng.choice(FAMILY)
    head_female = rng.random() < 0.2
    head_birth = date(rng.randint(1965, 1995), rng.randint(1, 12), rng.randint(1, 28))
    head = (rng.choice(GIVEN_F) if head_female else rng.choice(GIVEN_M)) + " " + family
    members = [
        {
            "name": head,
            "nik": nik(village, head_birth, head_female, rng),
            "sex": "F" if head_female else "M",
            "birth_date": head_birth.isoformat(),
            "relationship": "head",
        }
    ]
    if not head_female:
        birth = head_birth + timedelta(days=rng.randint(-1500, 2500))
        members.append(
            {
                "name": rng.choice(GIVEN_F) + " " + family,
                "nik": nik(village, birth, True, rng),
                "sex": "F",
                "birth_date": birth.isoformat(),
                "relationship": "spouse",
            }
        )
    for _ in range(rng.choice([0, 1, 2, 2, 3, 4])):
        female = rng.random() < 0.5
        birth = date(rng.randint(2005, 2022), rng.randint(1, 12), rng.randint(1, 28))
        members.append(
            {
                "name": rng.choice(GIVEN_F if female else GIVEN_M) + " " + family,
                "nik": nik(village, birth, female, rng),
                "sex": "F" if female else "M",
                "birth_date": birth.isoformat(),
                "relationship": "child",
            }
        )
    district = village.district_code.replace(".", "")
    return {
        "kk": f"{district}{rng.randrange(10**9, 10**10)}",
        "head_name": head,
        "village_code": village.code,
        "welfare_decile": rng.choices([1, 2, 3, 4], weights=[4, 3, 2, 1])[0],
        "members": members,
        "registered_on": registered_on.isoformat(),
    }


@dataclass(frozen=True)
class Keys:
    """The local stack's API keys (made by `make dev-keys`)."""

    admin: str
    reporting: str
    agencies: dict[str, str]

    def of(self, agency: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.agencies[agency]}"}

    @property
    def reader(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.reporting}"}


def lamandau_today() -> date:
    """Today in Lamandau, the calendar of the records' days (none may lie after it)."""
    return datetime.now(JAKARTA).date()


@dataclass
class Tally:
    households_new: int = 0
    households_existing: int = 0
    enrolled: int = 0
    never_reached: int = 0
    graduated: int = 0
    exited: int = 0
    grants: int = 0
    grants_idr: int = 0
    imported: int = 0
    intake: int = 0  # grants the intake agency's system published and the platform took
    double_funded: int = 0
    trainings: int = 0
    mentoring_visits: int = 0
    surveys: int = 0
    voids: int = 0
    rejected: int = 0
    requests: int = 0
    retries: int = 0
    # (agency, grant id, amount) of every grant recorded through the API, so that a few can
    # be voided
    grants_recorded: list[tuple[str, str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Endpoints:
    registry: str = "http://127.0.0.1:8101"
    interventions: str = "http://127.0.0.1:8102"
    reporting: str = "http://127.0.0.1:8103"


@dataclass
class Household:
    """A household as registered and enrolled, with its plan and its latest record's day."""

    id: str
    member_id: str | None
    plan: HouseholdPlan
    latest: date


class Year:
    """The year sent to the services: one client, the keys, what was accepted."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        urls: Endpoints,
        rng: random.Random,
        intake: CommonSettings,
    ) -> None:
        self.client = client
        self.keys = keys
        self.urls = urls
        self.rng = rng
        # The intake agency's Kafka identity, its grants (bodies of POST /grants) and the
        # households they go to, and what it published
        self.intake_settings = intake
        self.intake_grants: list[dict[str, Any]] = []
        self.intake_reached: list[Enrolled] = []
        self.intake_sent: list[IntakeRecord] = []
        self.tally = Tally()
        self.today = lamandau_today()
        self.sessions: dict[str, list[dict[str, Any]]] = {a: [] for a in PROGRAMME}
        # The spreadsheet agency's grants, one CSV row each (keys as its key row)
        self.spreadsheet: list[dict[str, Any]] = []

    async def send(
        self, url: str, headers: dict[str, str], body: dict[str, Any] | None = None, **extra: Any
    ) -> httpx.Response:
        """POST, again with the same Idempotency-Key after a broken connection or while the
        answer says "not yet" (Retry-After): interventions learns of a household from Kafka a
        moment after the registry took it."""
        headers = headers | {"Idempotency-Key": str(uuid.uuid4())}
        end = time.monotonic() + 60
        while True:
            self.tally.requests += 1
            try:
                reply = await self.client.post(url, json=body, headers=headers, **extra)
            except httpx.TransportError:
                if time.monotonic() > end:
                    raise
            else:
                if "retry-after" not in reply.headers or time.monotonic() > end:
                    return reply
            self.tally.retries += 1
            await asyncio.sleep(0.1)

    async def post(self, path: str, body: dict[str, Any], agency: str) -> httpx.Response | None:
        reply = await self.send(f"{self.urls.interventions}{path}", self.keys.of(agency), body)
        if reply.status_code == 201:
            return reply
        self.tally.rejected += 1
        print(f"  {path} refused: {reply.status_code} {reply.text[:200]}")
        return None

    async def prepare_agencies(self) -> None:
        """Each agency's budget for every fiscal year of the twelve months, and its training
        sessions over them."""
        start, _ = months_of(self.today)
        for agency, plan in PROGRAMME.items():
            for year in range(start.year, self.today.year + 1):
                budget = {
                    "fiscal_year": year,
                    "amount_idr": plan["budget_idr"],
                    "budget_line": plan["budget_line"],
                }
                await self.post("/budget-allocations", budget, agency)
        trainings = {agency: plan["trainings"] for agency, plan in PROGRAMME.items()}
        for agency, body in plan_sessions(self.rng, self.today, trainings):
            reply = await self.post("/training-sessions", body, agency)
            if reply is not None:
                self.sessions[agency].append(reply.json())

    async def household(
        self, village: Village, plan: HouseholdPlan, rng: random.Random, limit: asyncio.Semaphore
    ) -> Household | None:
        async with limit:
            return await self._household(village, plan, rng)

    async def _household(
        self, village: Village, plan: HouseholdPlan, rng: random.Random
    ) -> Household | None:
        dinsos = self.keys.of("dinsos")
        reply = await self.send(
            f"{self.urls.registry}/households",
            dinsos,
            household_body(village, rng, plan.registered_on),
        )
        if reply.status_code not in (200, 201):
            self.tally.rejected += 1
            print(f"  registry refused a household: {reply.status_code} {reply.text[:200]}")
            return None
        if reply.status_code == 200:
            self.tally.households_existing += 1
            return None
        self.tally.households_new += 1
        household_id = reply.json()["id"]
        # Agencies give interventions to enrolled households only, from their enrolment on.
        enrolment = await self.send(
            f"{self.urls.registry}/households/{household_id}/enrolment",
            dinsos,
            {"cohort_year": plan.enrolled_on.year, "enrolled_on": plan.enrolled_on.isoformat()},
        )
        if enrolment.status_code != 201:
            self.tally.rejected += 1
            print(f"  enrolment refused: {enrolment.status_code} {enrolment.text[:200]}")
            return None
        self.tally.enrolled += 1
        members = reply.json().get("members") or [{}]
        house = Household(household_id, members[0].get("member_id"), plan, plan.enrolled_on)
        if plan.lead is None:
            self.tally.never_reached += 1
            return house
        await self.reach(house, rng)
        return house

    async def reach(self, house: Household, rng: random.Random) -> None:
        """The agencies' records for one household, in the order of their days."""
        plan = house.plan
        assert plan.lead is not None and plan.grant_on is not None
        body = grant_body(house.id, plan.lead, rng, "capital" if plan.second_grant else None)
        body["issued_on"] = plan.grant_on.isoformat()
        if plan.imported:
            self.spreadsheet_rows(body)
        elif plan.intake:
            self.intake_grants.append(body)
            self.intake_reached.append(Enrolled(house.id, plan.registered_on))
        else:
            await self.grant(body, plan.lead)
        if plan.second_grant is not None:
            # Another agency's capital grant in the same fiscal year: a double-funding alert.
            second = grant_body(house.id, plan.second_grant, rng, "capital")
            on = min(plan.grant_on + timedelta(days=rng.randint(5, 40)), self.today)
            second |= {"issued_on": on.isoformat(), "fiscal_year": plan.grant_on.year}
            if await self.grant(second, plan.second_grant):
                self.tally.double_funded += 1
        for survey in plan.surveys:
            reply = await self.post(
                "/business-surveys",
                {
                    "household_id": house.id,
                    "surveyed_on": survey.on.isoformat(),
                    "monthly_income_idr": survey.monthly_income_idr,
                    "workers": survey.workers,
                },
                survey.agency,
            )
            self.tally.surveys += reply is not None
        for visit in plan.visits:
            reply = await self.post(
                "/mentoring-visits",
                {
                    "household_id": house.id,
                    "visited_on": visit.on.isoformat(),
                    "business_status": rng.choice(BUSINESS_STATUSES),
                    "notes": "Usaha berjalan; pembukuan perlu dirapikan",
                },
                visit.agency,
            )
            self.tally.mentoring_visits += reply is not None
        if house.member_id is not None:
            for agency in plan.trainers:
                await self.train(house, agency, rng)
        house.latest = max(house.latest, plan.last_day)

    async def grant(self, body: dict[str, Any], agency: str) -> bool:
        reply = await self.post("/grants", body, agency)
        if reply is None:
            return False
        given = reply.json()
        self.tally.grants += 1
        self.tally.grants_idr += given["amount_idr"]
        self.tally.grants_recorded.append((agency, given["id"], given["amount_idr"]))
        return True

    def spreadsheet_rows(self, body: dict[str, Any]) -> None:
        """The agency's grant as rows of its spreadsheet: one row, or one per item."""
        row = {
            "row_ref": f"HIBAH-{len(self.spreadsheet) + 1:04d}",
            "household_id": body["household_id"],
            "kind": "modal" if body["kind"] == "capital" else "peralatan",
            "purpose": body["purpose"],
            "issued_on": body["issued_on"],
            "budget_line": body["budget_line"],
        }
        if body["kind"] == "capital":
            self.spreadsheet.append(row | {"amount_idr": body["amount_idr"]})
            self.tally.grants_idr += body["amount_idr"]
            return
        # An equipment grant's row takes one item line: the first.
        item = body["items"][0]
        self.spreadsheet.append(
            row
            | {
                "item_description": item["description"],
                "item_quantity": item["quantity"],
                "item_unit": item["unit"],
                "item_unit_value_idr": item["unit_value_idr"],
            }
        )
        self.tally.grants_idr += item["quantity"] * item["unit_value_idr"]

    async def train(self, house: Household, agency: str, rng: random.Random) -> None:
        """A member joins one of the agency's sessions after the enrolment, attends most of
        its days and mostly completes."""
        session = session_for(rng, self.sessions[agency], house.plan.enrolled_on)
        if session is None:
            return
        who = {"session_id": session["id"], "household_id": house.id, "member_id": house.member_id}
        if await self.post("/training-participants", who, agency) is None:
            return
        day = date.fromisoformat(session["starts_on"])
        ends = date.fromisoformat(session["ends_on"])
        while day <= ends:
            if rng.random() < 0.9:
                await self.post(
                    "/training-attendance", {**who, "attended_on": day.isoformat()}, agency
                )
            day += timedelta(days=1)
        if rng.random() < 0.85:
            completion = {**who, "completed_on": ends.isoformat()}
            if await self.post("/training-completions", completion, agency):
                self.tally.trainings += 1
                house.latest = max(house.latest, ends)

    async def import_spreadsheet(self) -> None:
        """The spreadsheet agency uploads its grants as a CSV (the template's key row first).
        A row whose household interventions does not know yet is refused; sending the file
        again records only what was not recorded before."""
        if not self.spreadsheet:
            return
        columns = [
            "row_ref",
            "household_id",
            "kind",
            "amount_idr",
            "item_description",
            "item_quantity",
            "item_unit",
            "item_unit_value_idr",
            "purpose",
            "issued_on",
            "budget_line",
        ]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(self.spreadsheet)
        headers = self.keys.of(SPREADSHEET_AGENCY) | {"Content-Type": "text/csv"}
        for attempt in range(5):
            reply = await self.send(
                f"{self.urls.interventions}/imports/grants",
                headers,
                content=text.getvalue().encode(),
            )
            summary = reply.headers.get("gayari-import-summary", "")
            if reply.status_code != 200:
                break
            if "refused=0" in summary:
                self.tally.imported = len(self.spreadsheet)
                self.tally.grants += len(self.spreadsheet)
                print(f"  {SPREADSHEET_AGENCY} imported its spreadsheet: {summary}")
                return
            await asyncio.sleep(0.2 * (attempt + 1))
        self.tally.rejected += 1
        print(f"  the spreadsheet import refused rows: {reply.status_code} {summary}")
        print("  " + "\n  ".join(reply.text.splitlines()[:5]))

    async def publish_intake(self) -> None:
        """The intake agency's system publishes its grants, and a few records it got wrong, on
        its intake topic. Its households are enrolled and known to interventions by now
        (their other records were taken over HTTP), so only the mistakes are refused."""
        budget_line = PROGRAMME[INTAKE_AGENCY]["budget_line"]
        good = demo_intake.grants(INTAKE_AGENCY, self.intake_grants)
        records = good + demo_intake.mistakes(INTAKE_AGENCY, self.intake_reached, budget_line)
        started = time.monotonic()
        await demo_intake.publish(self.intake_settings, INTAKE_AGENCY, records)
        self.intake_sent = records
        self.tally.intake = len(good)
        self.tally.grants += len(good)
        self.tally.grants_idr += sum(r.amount_idr for r in good)
        refused = ", ".join(f"{n} {why}" for why, n in demo_intake.refusals(records).items())
        print(
            f"  {INTAKE_AGENCY}'s system published {len(records)} records on "
            f"{self.intake_settings.intake_topic(INTAKE_AGENCY)}: {len(good)} grants, and "
            f"mistakes to be refused ({refused}), in {time.monotonic() - started:.1f} s"
        )

    async def exits(self, houses: list[Household]) -> None:
        """Households leave after their last record: most of them graduate."""
        for house in houses:
            if house.plan.exit is None:
                continue
            reason, _ = house.plan.exit
            on = min(house.latest + timedelta(days=14), self.today)
            reply = await self.send(
                f"{self.urls.registry}/households/{house.id}/exit",
                self.keys.of("dinsos"),
                {"reason": reason, "exited_on": on.isoformat()},
            )
            if reply.status_code != 200:
                self.tally.rejected += 1
                print(f"  exit refused: {reply.status_code} {reply.text[:200]}")
                continue
            self.tally.exited += 1
            self.tally.graduated += reason == "graduated"

    async def void_a_few(self) -> None:
        """Corrections happen: the agency that recorded a grant by mistake voids it."""
        recorded = self.tally.grants_recorded
        for (agency, grant_id, amount), reason in zip(
            recorded[:3], ["entered-in-error", "duplicate", "wrong-household"], strict=False
        ):
            body = {"intervention_type": "grant", "intervention_id": grant_id, "reason": reason}
            if await self.post("/voids", body, agency):
                self.tally.voids += 1
                self.tally.grants -= 1
                self.tally.grants_idr -= amount


def grant_body(
    household_id: str, agency: str, rng: random.Random, kind: str | None = None
) -> dict[str, Any]:
    plan = PROGRAMME[agency]
    body: dict[str, Any] = {"household_id": household_id, "budget_line": plan["budget_line"]}
    equipment = plan["equipment"] and (not plan["capital"] or rng.random() < 0.6)
    if kind == "equipment" or (kind is None and equipment):
        purpose, items = rng.choice(plan["equipment"])
        return body | {
            "kind": "equipment",
            "purpose": purpose,
            "items": [
                {
                    "description": description,
                    "unit": unit,
                    "unit_value_idr": value,
                    "quantity": rng.randint(fewest, most),
                }
                for description, unit, value, fewest, most in items
            ],
        }
    purpose, low, high = rng.choice(plan["capital"])
    return body | {
        "kind": "capital",
        "purpose": purpose,
        "amount_idr": rng.randrange(low, high, 50_000),
    }


def rupiah(amount: int) -> str:
    return "Rp " + f"{amount:,}".replace(",", ".")


def print_report(progress: dict[str, Any]) -> None:
    print()
    print("GAYARI Kabupaten Lamandau: progress of the joint programme")
    print(f"  data as of {progress['as_of']}")
    print(f"  households registered  {progress['households_registered']:>8}")
    print(
        f"  grants                 {progress['grants']['count']:>8}   "
        f"{rupiah(progress['grants']['total_idr'])}"
    )
    print(f"  trainings completed    {progress['trainings_completed']:>8}")
    print()
    print(f"  {'agency':<52} {'grants':>7} {'total IDR':>18} {'trainings':>10}")
    for row in progress["agencies"]:
        print(
            f"  {row['name']:<52} {row['grants']['count']:>7} "
            f"{rupiah(row['grants']['total_idr']):>18} {row['trainings_completed']:>10}"
        )


async def print_read_models(keys: Keys, urls: Endpoints) -> None:
    """A few of reporting's read models beside /progress: where the money went, how far the
    agencies work together, what to look at, month by month."""
    reporting = urls.reporting
    async with httpx.AsyncClient(timeout=30, headers=keys.reader) as client:
        agencies = (await client.get(f"{reporting}/agencies")).json()["agencies"]
        districts = (await client.get(f"{reporting}/areas/62.09")).json()["children"]
        convergence = (await client.get(f"{reporting}/convergence")).json()
        alerts = (await client.get(f"{reporting}/double-funding")).json()["total"]
        unserved = (await client.get(f"{reporting}/unserved")).json()
        months = (await client.get(f"{reporting}/timeseries")).json()["months"]
        outcomes = (await client.get(f"{reporting}/outcomes")).json()
        quality = (await client.get(f"{reporting}/data-quality")).json()
    print()
    print(f"  {'agency':<10} {'reached':>8} {'budget':>20} {'realised':>9}")
    for row in agencies:
        share = row["realisation_percent"]
        print(
            f"  {row['agency']:<10} {row['households_reached']:>8} "
            f"{rupiah(row['budget_allocated_idr']):>20} "
            f"{'-' if share is None else f'{share:.1f} %':>9}"
        )
    print()
    print(f"  {'district':<20} {'households':>10} {'reached':>8} {'IDR':>18}")
    for row in districts:
        if row["households_registered"]:
            print(
                f"  {row['name']:<20} {row['households_registered']:>10} "
                f"{row['households_reached']:>8} {rupiah(row['idr_disbursed']):>18}"
            )
    print()
    print(f"  {'month':<8} {'enrolled':>8} {'reached':>8} {'grants':>7} {'IDR':>18} {'exited':>7}")
    for m in months:
        print(
            f"  {m['month']:<8} {m['households_enrolled']:>8} {m['households_reached']:>8} "
            f"{m['grants']:>7} {rupiah(m['idr_disbursed']):>18} {m['households_exited']:>7}"
        )
    reached = ", ".join(f"{r['agencies']}: {r['households']}" for r in convergence["reached_by"])
    print()
    print(f"  households by agencies reaching them  {reached}")
    print(f"  collaboration (enrolled, 2+ agencies) {convergence['collaboration_percent']} %")
    print(f"  double-funding alerts                 {alerts}")
    # Both lists come a page at a time; their totals count every page.
    villages = "" if unserved["next"] else f" in {len(unserved['villages'])} villages"
    print(
        f"  unserved for {unserved['days']} days              "
        f"{unserved['households']} households{villages}"
    )
    print(f"  outcomes                              {json.dumps(outcomes)[:160]}")
    refused = quality["intake_refusals"]
    by_reason = ", ".join(
        f"{r['agency']} {r['reason']}: {r['refusals']}" for r in refused["by_agency_and_reason"]
    )
    print(f"  intake records refused (data quality) {refused['total']} ({by_reason})")
    print(f"  more: {reporting}/docs (summary, areas, timeseries, outcomes, exports ...)")


async def intake_refusals(client: httpx.AsyncClient, urls: Endpoints, keys: Keys) -> Counter[str]:
    """The intake agency's refused records by reason, as /data-quality counts them."""
    quality = (await client.get(f"{urls.reporting}/data-quality", headers=keys.reader)).json()
    return Counter(
        {
            row["reason"]: row["refusals"]
            for row in quality["intake_refusals"]["by_agency_and_reason"]
            if row["agency"] == INTAKE_AGENCY
        }
    )


async def wait_for_reporting(
    client: httpx.AsyncClient,
    urls: Endpoints,
    keys: Keys,
    expected: tuple[int, int, int, int],
    *,
    refusals: Counter[str],
    started: float,
) -> dict[str, Any] | None:
    """/progress at its expected figures (the intake's grants among them), then /data-quality
    counting the intake's refusals."""
    print("Waiting for reporting to catch up ...")
    deadline = time.monotonic() + 120
    while True:
        progress: dict[str, Any] = (
            await client.get(f"{urls.reporting}/progress", headers=keys.reader)
        ).json()
        seen = (
            progress["households_registered"],
            progress["grants"]["count"],
            progress["grants"]["total_idr"],
            progress["trainings_completed"],
        )
        refused = await intake_refusals(client, urls, keys) if seen == expected else None
        if refused == refusals:
            print(f"  caught up {time.monotonic() - started:.1f} s after the first request")
            return progress
        if time.monotonic() > deadline:
            print(
                f"reporting did not catch up: expected {expected} and intake refusals "
                f"{dict(refusals)}, sees {seen} and {refused}"
            )
            return None
        await asyncio.sleep(0.5)


async def exits_seen(client: httpx.AsyncClient, urls: Endpoints, keys: Keys) -> int:
    outcomes = (await client.get(f"{urls.reporting}/outcomes", headers=keys.reader)).json()
    return sum(outcomes["exits_by_reason"].values())


async def wait_for_exits(
    client: httpx.AsyncClient, urls: Endpoints, keys: Keys, expected: int
) -> bool:
    """The exits are the run's last writes, and /progress does not count them."""
    deadline = time.monotonic() + 60
    while (seen := await exits_seen(client, urls, keys)) != expected:
        if time.monotonic() > deadline:
            print(f"reporting did not catch up: expected {expected} exits, sees {seen}")
            return False
        await asyncio.sleep(0.5)
    return True


async def run(
    households: int, seed: int | None, keys: Keys, urls: Endpoints, intake: CommonSettings
) -> int:
    rng = random.Random(seed)
    villages = load_areas().villages_in("62.09")
    async with httpx.AsyncClient(timeout=30) as client:
        year = Year(client, keys, urls, rng, intake)
        before = (await client.get(f"{urls.reporting}/progress", headers=keys.reader)).json()
        exits_before = await exits_seen(client, urls, keys)
        refused_before = await intake_refusals(client, urls, keys)
        start, _ = months_of(year.today)
        print(
            f"Simulating {households} households over {len(villages)} villages of Lamandau "
            f"and the {len(DEFAULT_AGENCIES)} agencies, {start} to {year.today} ..."
        )
        started = time.monotonic()
        await year.prepare_agencies()
        plans = plan_year(
            rng,
            year.today,
            households,
            list(PROGRAMME),
            SPREADSHEET_AGENCY,
            intake_agency=INTAKE_AGENCY,
        )
        limit = asyncio.Semaphore(32)
        done = await asyncio.gather(
            *(
                year.household(rng.choice(villages), plan, random.Random(rng.random()), limit)
                for plan in plans
            )
        )
        houses = [house for house in done if house is not None]
        await asyncio.gather(year.import_spreadsheet(), year.publish_intake())
        await year.void_a_few()
        await year.exits(houses)
        tally = year.tally
        print(
            f"  accepted: {tally.households_new} households ({tally.never_reached} never "
            f"reached, {tally.graduated} graduated, {tally.exited - tally.graduated} moved), "
            f"{tally.grants} grants ({rupiah(tally.grants_idr)}; {tally.imported} from a "
            f"spreadsheet, {tally.intake} from {INTAKE_AGENCY}'s system, "
            f"{tally.double_funded} double fundings, {tally.voids} voided), "
            f"{tally.trainings} trainings completed, {tally.mentoring_visits} mentoring "
            f"visits, {tally.surveys} surveys in {time.monotonic() - started:.1f} s "
            f"({tally.requests} requests, {tally.retries} of them again); "
            f"refused: {tally.rejected}"
        )
        expected = (
            before["households_registered"] + tally.households_new,
            before["grants"]["count"] + tally.grants,
            before["grants"]["total_idr"] + tally.grants_idr,
            before["trainings_completed"] + tally.trainings,
        )
        refusals = refused_before + demo_intake.refusals(year.intake_sent)
        progress = await wait_for_reporting(
            client, urls, keys, expected, refusals=refusals, started=started
        )
        exits = exits_before + tally.exited
        if progress is None or not await wait_for_exits(client, urls, keys, exits):
            return 1
    print_report(progress)
    await print_read_models(keys, urls)
    month = year.today.strftime("%Y-%m")
    print()
    print("Monthly report for the regent's office (print to A4), with the reporting key:")
    print(f"  {urls.reporting}/reports/monthly?month={month}&area=62.09")
    return 0 if tally.rejected == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--households", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None, help="repeat a run exactly")
    parser.add_argument("--keys", type=Path, required=True, help="dev keys (make dev-keys)")
    defaults = Endpoints()
    parser.add_argument("--registry", default=defaults.registry, help="registry's base URL")
    parser.add_argument("--interventions", default=defaults.interventions)
    parser.add_argument("--reporting", default=defaults.reporting)
    cache = Path(os.environ.get("GAYARI_CACHE_DIR") or REPO_ROOT / ".cache")
    parser.add_argument(
        "--credentials",
        type=Path,
        default=cache / "credentials",
        help=f"the stack's credentials: {INTAKE_AGENCY}'s system logs in to Kafka as "
        f"agency-{INTAKE_AGENCY} with those under kafka/agency-{INTAKE_AGENCY}/",
    )
    parser.add_argument(
        "--topic-prefix",
        default=os.environ.get("GAYARI_TOPIC_PREFIX") or "gayari",
        help="the services' GAYARI_TOPIC_PREFIX",
    )
    args = parser.parse_args()
    known = json.loads(args.keys.read_text())
    keys = Keys(admin=known["admin"], reporting=known["reporting"], agencies=known["agencies"])
    urls = Endpoints(args.registry, args.interventions, args.reporting)
    try:
        intake = demo_intake.agency_settings(args.credentials, INTAKE_AGENCY, args.topic_prefix)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    return asyncio.run(run(args.households, args.seed, keys, urls, intake))


if __name__ == "__main__":
    sys.exit(main())
