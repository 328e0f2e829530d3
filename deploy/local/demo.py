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
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from gayari_shared.agencies import DEFAULT_AGENCIES
from gayari_shared.areas import Village, load_areas

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

# What each agency typically gives: (kind, low, high) grants in IDR and training topics.
PROGRAMME: dict[str, dict[str, Any]] = {
    "dinsos": {
        "grants": [("capital", 1_000_000, 3_000_000)],
        "trainings": ["Kewirausahaan dasar", "Literasi keuangan keluarga"],
    },
    "dispar": {
        "grants": [("equipment", 1_500_000, 5_000_000)],
        "trainings": ["Pengelolaan homestay", "Pemandu wisata desa", "Kerajinan khas Dayak"],
    },
    "distakan": {
        "grants": [("equipment", 2_000_000, 7_500_000), ("capital", 1_000_000, 2_500_000)],
        "trainings": ["Budidaya ikan nila", "Pembibitan karet", "Ternak ayam kampung"],
    },
    "dkukmpp": {
        "grants": [("capital", 2_000_000, 5_000_000)],
        "trainings": ["Pembukuan usaha mikro", "Pemasaran digital", "Pengemasan produk"],
    },
}


@dataclass
class Tally:
    households_new: int = 0
    households_existing: int = 0
    grants: int = 0
    grants_idr: int = 0
    trainings: int = 0
    rejected: int = 0
    by_agency: dict[str, list[int]] = field(default_factory=dict)


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


async def post_retrying(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    deadline_s: float = 60.0,
) -> httpx.Response:
    """Interventions learns of a household from Kafka a moment after the registry took it."""
    end = time.monotonic() + deadline_s
    while True:
        reply = await client.post(url, json=body, headers=headers)
        unknown = reply.status_code == 422 and "household_id" in reply.text
        if not unknown or time.monotonic() > end:
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
        agencies = rng.sample(list(PROGRAMME), k=rng.choices([0, 1, 2, 3, 4], [2, 4, 3, 2, 1])[0])
        for agency in agencies:
            plan = PROGRAMME[agency]
            kind, low, high = rng.choice(plan["grants"])
            amount = rng.randrange(low, high, 50_000)
            body = {
                "household_id": household_id,
                "kind": kind,
                "amount_idr": amount,
            }
            grant = await post_retrying(client, f"{INTERVENTIONS}/grants", body, keys.of(agency))
            if grant.status_code == 201:
                tally.grants += 1
                tally.grants_idr += amount
            else:
                tally.rejected += 1
                print(f"  grant refused: {grant.status_code} {grant.text[:200]}")
            if rng.random() < 0.6:
                body = {
                    "household_id": household_id,
                    "topic": rng.choice(plan["trainings"]),
                    "hours": rng.choice([8, 16, 24]),
                    "completed_on": (
                        date.today() - timedelta(days=rng.randint(1, 200))
                    ).isoformat(),
                }
                training = await post_retrying(
                    client, f"{INTERVENTIONS}/training-completions", body, keys.of(agency)
                )
                if training.status_code == 201:
                    tally.trainings += 1
                else:
                    tally.rejected += 1


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
                )
                for _ in range(households)
            )
        )
        print(
            f"  accepted: {tally.households_new} households, {tally.grants} grants "
            f"({rupiah(tally.grants_idr)}), {tally.trainings} trainings "
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
