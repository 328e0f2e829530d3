"""Simulate a small, realistic GAYARI programme in Lamandau over the running services, wait
until reporting has caught up, and print the progress report.

Households live in the real villages of Lamandau (62.09) from the Kemendagri reference data;
the four agencies give grants and training the way the agreement describes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from gayari_shared.agencies import DEFAULT_AGENCIES
from gayari_shared.areas import Village, load_areas
from gayari_shared.events.interventions import JAKARTA

REGISTRY = "http://127.0.0.1:8101"
INTERVENTIONS = "http://127.0.0.1:8102"
REPORTING = "http://127.0.0.1:8103"

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
BUSINESS_STATUSES = ["not-started", "running", "running", "growing", "growing", "stalled"]


@dataclass
class Tally:
    households_new: int = 0
    households_existing: int = 0
    grants: int = 0
    grants_idr: int = 0
    trainings: int = 0
    mentoring_visits: int = 0
    surveys: int = 0
    voids: int = 0
    rejected: int = 0
    by_agency: dict[str, list[int]] = field(default_factory=dict)
    # (agency, grant id, amount) of every grant recorded, so that a few can be voided
    grants_recorded: list[tuple[str, str, int]] = field(default_factory=list)


def nik(village: Village, birth: date, female: bool, rng: random.Random) -> str:
    day = birth.day + (40 if female else 0)
    district = village.district_code.replace(".", "")
    return f"{district}{day:02d}{birth.month:02d}{birth.year % 100:02d}{rng.randrange(1, 9999):04d}"


def household_body(village: Village, rng: random.Random) -> dict[str, Any]:
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
    """Today in Lamandau, the calendar of the records' days: a household registered in this
    run has no record dated before today (the interventions service refuses one)."""
    return datetime.now(JAKARTA).date()


async def post_retrying(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    deadline_s: float = 60.0,
) -> httpx.Response:
    """Interventions learns of a household from Kafka a moment after the registry took it:
    until then it answers a retryable problem (409 or 503 with Retry-After)."""
    end = time.monotonic() + deadline_s
    while True:
        reply = await client.post(url, json=body, headers=headers)
        not_yet = "retry-after" in reply.headers
        if not not_yet or time.monotonic() > end:
            return reply
        await asyncio.sleep(0.5)


async def one_household(
    client: httpx.AsyncClient,
    village: Village,
    rng: random.Random,
    tally: Tally,
    limit: asyncio.Semaphore,
    *,
    keys: Keys,
    sessions: dict[str, list[dict[str, Any]]],
) -> None:
    async with limit:
        reply = await client.post(
            f"{REGISTRY}/households", json=household_body(village, rng), headers=keys.of("dinsos")
        )
        if reply.status_code not in (200, 201):
            tally.rejected += 1
            print(f"  registry refused a household: {reply.status_code} {reply.text[:200]}")
            return
        if reply.status_code == 200:
            tally.households_existing += 1
            return
        tally.households_new += 1
        household_id = reply.json()["id"]
        # Agencies give interventions to enrolled households only.
        enrolment = await client.post(
            f"{REGISTRY}/households/{household_id}/enrolment",
            json={"cohort_year": date.today().year},
            headers=keys.of("dinsos"),
        )
        if enrolment.status_code != 201:
            tally.rejected += 1
            print(f"  enrolment refused: {enrolment.status_code} {enrolment.text[:200]}")
            return
        members = reply.json().get("members") or [{}]
        member_id = members[0].get("member_id")
        agencies = rng.sample(list(PROGRAMME), k=rng.choices([0, 1, 2, 3, 4], [2, 4, 3, 2, 1])[0])
        for agency in agencies:
            await give(
                client,
                household_id,
                member_id,
                agency,
                rng=rng,
                tally=tally,
                keys=keys,
                sessions=sessions,
            )


def grant_body(household_id: str, agency: str, rng: random.Random) -> dict[str, Any]:
    plan = PROGRAMME[agency]
    body: dict[str, Any] = {"household_id": household_id, "budget_line": plan["budget_line"]}
    if plan["equipment"] and (not plan["capital"] or rng.random() < 0.6):
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


async def post_counted(
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    agency: str,
    *,
    tally: Tally,
    keys: Keys,
) -> httpx.Response | None:
    reply = await post_retrying(client, f"{INTERVENTIONS}{path}", body, keys.of(agency))
    if reply.status_code == 201:
        return reply
    tally.rejected += 1
    print(f"  {path} refused: {reply.status_code} {reply.text[:200]}")
    return None


async def give(
    client: httpx.AsyncClient,
    household_id: str,
    member_id: str | None,
    agency: str,
    *,
    rng: random.Random,
    tally: Tally,
    keys: Keys,
    sessions: dict[str, list[dict[str, Any]]],
) -> None:
    """One agency's interventions for one household: a grant, maybe a training, a mentoring
    visit and a survey of the business."""
    body = grant_body(household_id, agency, rng)
    grant = await post_counted(client, "/grants", body, agency, tally=tally, keys=keys)
    if grant is not None:
        tally.grants += 1
        tally.grants_idr += grant.json()["amount_idr"]
        tally.grants_recorded.append((agency, grant.json()["id"], grant.json()["amount_idr"]))
    if member_id is not None and rng.random() < 0.6:
        await train(
            client,
            household_id,
            member_id,
            agency,
            rng=rng,
            tally=tally,
            keys=keys,
            sessions=sessions,
        )
    if rng.random() < 0.3:
        visit = {
            "household_id": household_id,
            "visited_on": lamandau_today().isoformat(),
            "business_status": rng.choice(BUSINESS_STATUSES),
            "notes": "Usaha berjalan; pembukuan perlu dirapikan",
        }
        if await post_counted(client, "/mentoring-visits", visit, agency, tally=tally, keys=keys):
            tally.mentoring_visits += 1
    if rng.random() < 0.3:
        survey = {
            "household_id": household_id,
            "surveyed_on": lamandau_today().isoformat(),
            "monthly_income_idr": rng.randrange(500_000, 6_000_000, 50_000),
            "workers": rng.choice([1, 1, 2, 2, 3, 4]),
        }
        if await post_counted(client, "/business-surveys", survey, agency, tally=tally, keys=keys):
            tally.surveys += 1


async def train(
    client: httpx.AsyncClient,
    household_id: str,
    member_id: str,
    agency: str,
    *,
    rng: random.Random,
    tally: Tally,
    keys: Keys,
    sessions: dict[str, list[dict[str, Any]]],
) -> None:
    """The household's head joins one of the agency's sessions, attends and mostly completes."""
    session = rng.choice(sessions[agency])
    who = {"session_id": session["id"], "household_id": household_id, "member_id": member_id}
    if not await post_counted(
        client, "/training-participants", who, agency, tally=tally, keys=keys
    ):
        return
    # A household registered today attends the session's days from today, none in the future.
    today = lamandau_today()
    day = max(date.fromisoformat(session["starts_on"]), today)
    while day <= min(date.fromisoformat(session["ends_on"]), today):
        if rng.random() < 0.9:
            attendance = {**who, "attended_on": day.isoformat()}
            await post_counted(
                client, "/training-attendance", attendance, agency, tally=tally, keys=keys
            )
        day += timedelta(days=1)
    if rng.random() < 0.85:
        completion = {**who, "completed_on": today.isoformat()}
        if await post_counted(
            client, "/training-completions", completion, agency, tally=tally, keys=keys
        ):
            tally.trainings += 1


async def prepare_agencies(
    client: httpx.AsyncClient, rng: random.Random, tally: Tally, keys: Keys
) -> dict[str, list[dict[str, Any]]]:
    """Each agency's budget for this fiscal year and its training sessions of the last weeks."""
    sessions: dict[str, list[dict[str, Any]]] = {}
    for agency, plan in PROGRAMME.items():
        budget = {
            "fiscal_year": date.today().year,
            "amount_idr": plan["budget_idr"],
            "budget_line": plan["budget_line"],
        }
        await post_counted(client, "/budget-allocations", budget, agency, tally=tally, keys=keys)
        sessions[agency] = []
        for topic in plan["trainings"]:
            # Sessions of the last weeks, some still running today.
            starts = lamandau_today() - timedelta(days=rng.randint(0, 60))
            body = {
                "topic": topic,
                "starts_on": starts.isoformat(),
                "ends_on": (starts + timedelta(days=rng.choice([0, 1, 2]))).isoformat(),
                "hours": rng.choice([8, 16, 24]),
                "place": f"Balai Desa {rng.choice(['Bukit Raya', 'Tamiang', 'Kujan', 'Guci'])}",
            }
            reply = await post_counted(
                client, "/training-sessions", body, agency, tally=tally, keys=keys
            )
            if reply is not None:
                sessions[agency].append(reply.json())
    return sessions


async def void_a_few(client: httpx.AsyncClient, tally: Tally, keys: Keys) -> None:
    """Corrections happen: the agency that recorded a grant by mistake voids it."""
    for (agency, grant_id, amount), reason in zip(
        tally.grants_recorded[:2], ["entered-in-error", "duplicate"], strict=False
    ):
        body = {"intervention_type": "grant", "intervention_id": grant_id, "reason": reason}
        if await post_counted(client, "/voids", body, agency, tally=tally, keys=keys):
            tally.voids += 1
            tally.grants -= 1
            tally.grants_idr -= amount


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


async def print_read_models(keys: Keys) -> None:
    """A few of reporting's read models beside /progress: where the money went, how far the
    agencies work together, what to look at."""
    async with httpx.AsyncClient(timeout=30, headers=keys.reader) as client:
        agencies = (await client.get(f"{REPORTING}/agencies")).json()["agencies"]
        districts = (await client.get(f"{REPORTING}/areas/62.09")).json()["children"]
        convergence = (await client.get(f"{REPORTING}/convergence")).json()
        alerts = (await client.get(f"{REPORTING}/double-funding")).json()["total"]
        unserved = (await client.get(f"{REPORTING}/unserved")).json()
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
    print(f"  more: {REPORTING}/docs (summary, areas, timeseries, outcomes, exports ...)")


async def run(households: int, seed: int | None, keys: Keys) -> int:
    rng = random.Random(seed)
    villages = load_areas().villages_in("62.09")
    tally = Tally()
    async with httpx.AsyncClient(timeout=30) as client:
        before = (await client.get(f"{REPORTING}/progress", headers=keys.reader)).json()
        print(
            f"Simulating {households} households over {len(villages)} villages of Lamandau "
            f"and the {len(DEFAULT_AGENCIES)} agencies ..."
        )
        started = time.monotonic()
        sessions = await prepare_agencies(client, rng, tally, keys)
        limit = asyncio.Semaphore(16)
        await asyncio.gather(
            *(
                one_household(
                    client,
                    rng.choice(villages),
                    random.Random(rng.random()),
                    tally,
                    limit,
                    keys=keys,
                    sessions=sessions,
                )
                for _ in range(households)
            )
        )
        await void_a_few(client, tally, keys)
        print(
            f"  accepted: {tally.households_new} households, {tally.grants} grants "
            f"({rupiah(tally.grants_idr)}, {tally.voids} voided), {tally.trainings} trainings "
            f"completed, {tally.mentoring_visits} mentoring visits, {tally.surveys} surveys "
            f"in {time.monotonic() - started:.1f} s; refused: {tally.rejected}"
        )
        expected = (
            before["households_registered"] + tally.households_new,
            before["grants"]["count"] + tally.grants,
            before["grants"]["total_idr"] + tally.grants_idr,
            before["trainings_completed"] + tally.trainings,
        )
        print("Waiting for reporting to catch up ...")
        deadline = time.monotonic() + 120
        while True:
            progress = (await client.get(f"{REPORTING}/progress", headers=keys.reader)).json()
            seen = (
                progress["households_registered"],
                progress["grants"]["count"],
                progress["grants"]["total_idr"],
                progress["trainings_completed"],
            )
            if seen == expected:
                break
            if time.monotonic() > deadline:
                print(f"reporting did not catch up: expected {expected}, sees {seen}")
                return 1
            await asyncio.sleep(0.5)
        print(f"  caught up {time.monotonic() - started:.1f} s after the first request")
    print_report(progress)
    await print_read_models(keys)
    return 0 if tally.rejected == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--households", type=int, default=300)
    parser.add_argument("--seed", type=int, default=None, help="repeat a run exactly")
    parser.add_argument("--keys", type=Path, required=True, help="dev keys (make dev-keys)")
    args = parser.parse_args()
    known = json.loads(args.keys.read_text())
    keys = Keys(admin=known["admin"], reporting=known["reporting"], agencies=known["agencies"])
    return asyncio.run(run(args.households, args.seed, keys))


if __name__ == "__main__":
    sys.exit(main())
