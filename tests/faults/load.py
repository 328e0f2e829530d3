"""A steady programme load over HTTP whose ground truth is computed from what was sent."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from dataclasses import dataclass, field

import asyncpg
import httpx

from tests.conftest import KeySet
from tests.processes import Service

AGENCIES = ("dinsos", "dispar", "distakan", "dkukmpp")
VILLAGES = ("62.09.01.2001", "62.09.02.2004", "62.09.03.2001", "62.09.05.2003")


@dataclass
class GroundTruth:
    """What the load knows it did: confirmed writes, and writes whose outcome it never heard."""

    requests: int = 0
    households: set[str] = field(default_factory=set)
    grants: dict[str, int] = field(default_factory=dict)  # confirmed grant id -> amount
    grants_unknown: int = 0  # the service may or may not have taken them
    # With Idempotency-Keys: requests sent again for a write (same key), and the answers that
    # came from a first attempt's stored response (its write committed, its answer lost).
    retries: int = 0
    replayed: int = 0


def household_body(rng: random.Random, index: int) -> dict[str, object]:
    district = "6209" + f"{rng.randint(1, 5):02d}"
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(60, 99)
    nik = f"{district}{day:02d}{month:02d}{year:02d}{index % 10000:04d}"
    return {
        "kk": f"{district}{uuid.uuid4().int % 10**10:010d}",
        "head_name": f"Kepala Keluarga {index}",
        "village_code": rng.choice(VILLAGES),
        "welfare_decile": rng.randint(1, 4),
        "members": [
            {
                "name": f"Kepala Keluarga {index}",
                "nik": nik,
                "sex": "M",
                "birth_date": f"19{year:02d}-{month:02d}-{day:02d}",
                "relationship": "head",
            }
        ],
    }


class Load:
    """Households registered and enrolled, and grants for them. `keyed`: every write carries
    an Idempotency-Key and is sent again with it, until answered, whatever happened to the
    attempt before (no answer, a refused connection, a 5xx, a 409 in flight)."""

    def __init__(
        self, services: dict[str, Service], keys: KeySet, seed: int, *, keyed: bool = False
    ) -> None:
        self.services, self.keys = services, keys
        self.rng = random.Random(seed)
        self.truth = GroundTruth()
        self.keyed = keyed
        # A number per household asked for, never the same twice, over every call of `run`
        # (a case calls it many times): its NIK ends with it, so no two households drawn with
        # the same district and birth date share a NIK (the registry would refuse the second
        # as the same person).
        self._serials = itertools.count()

    def _key(self) -> str | None:
        return f'"{uuid.UUID(int=self.rng.getrandbits(128))}"' if self.keyed else None

    async def post(
        self,
        client: httpx.AsyncClient,
        service: str,
        path: str,
        agency: str,
        body: dict[str, object],
        *,
        key: str | None = None,
    ) -> httpx.Response | None:
        """None when the answer never came (the service died mid-request). A refused
        connection is no request at all: the service is down, so wait and ask again."""
        headers = self.keys.bearer(self.keys.agencies[agency])
        if key is not None:
            headers["Idempotency-Key"] = key
        async with asyncio.timeout(120):
            while True:
                self.truth.requests += 1
                try:
                    reply = await client.post(
                        self.services[service].url + path, json=body, headers=headers
                    )
                    if reply.headers.get("Idempotent-Replayed") == "true":
                        self.truth.replayed += 1
                    return reply
                except httpx.ConnectError:
                    await asyncio.sleep(0.2)
                except httpx.TransportError:
                    return None
            return None

    async def _until_answered(
        self,
        client: httpx.AsyncClient,
        service: str,
        path: str,
        agency: str,
        body: dict[str, object],
        *,
        key: str | None = None,
    ) -> httpx.Response:
        """For idempotent writes only (a KK, an enrolment; any write with a key): ask again
        until there is an answer. A 409 for a key in flight is asked again too."""
        async with asyncio.timeout(120):
            while True:
                reply = await self.post(client, service, path, agency, body, key=key)
                in_flight = reply is not None and "idempotency-key-in-flight" in reply.text
                if reply is not None and reply.status_code < 500 and not in_flight:
                    return reply
                self.truth.retries += 1
                await asyncio.sleep(0.3)

    async def one_household(self, client: httpx.AsyncClient) -> None:
        rng = random.Random(self.rng.random())
        reply = await self._until_answered(
            client,
            "registry",
            "/households",
            "dinsos",
            household_body(rng, next(self._serials)),
            key=self._key(),
        )
        assert reply.status_code in (200, 201), reply.text
        household = reply.json()["id"]
        self.truth.households.add(household)
        enrolled = await self._until_answered(
            client,
            "registry",
            f"/households/{household}/enrolment",
            "dinsos",
            {"cohort_year": 2026},
            key=self._key(),
        )
        # Without a key, a retry of an enrolment that was taken is refused (409); with one,
        # it is answered from the first.
        assert enrolled.status_code in ((201,) if self.keyed else (201, 409)), enrolled.text
        for agency in rng.sample(AGENCIES, k=rng.randint(1, 3)):
            amount = rng.randrange(500_000, 5_000_000, 1000)
            body = {
                "household_id": household,
                "kind": "capital",
                "amount_idr": amount,
                "purpose": "Modal usaha",
            }
            if self.keyed:
                await self._keyed_grant(client, agency, body)
                continue
            async with asyncio.timeout(120):
                while True:  # the enrolment reaches interventions through Kafka
                    grant = await self.post(client, "interventions", "/grants", agency, body)
                    if grant is None:
                        self.truth.grants_unknown += 1  # a grant has no idempotency key
                        break
                    if grant.status_code == 201:
                        self.truth.grants[grant.json()["id"]] = amount
                        break
                    if grant.status_code >= 500 or "household_id" in grant.text:
                        await asyncio.sleep(0.3)
                        continue
                    raise AssertionError(grant.text)

    async def _keyed_grant(
        self, client: httpx.AsyncClient, agency: str, body: dict[str, object]
    ) -> None:
        """One grant, one key, sent until it is recorded: never unknown, never twice."""
        key = self._key()
        async with asyncio.timeout(120):
            while True:
                grant = await self._until_answered(
                    client, "interventions", "/grants", agency, body, key=key
                )
                if grant.status_code == 201:
                    self.truth.grants[grant.json()["id"]] = int(str(body["amount_idr"]))
                    return
                # The enrolment reaches interventions through Kafka: refused until then, and a
                # refusal leaves the key free for the next attempt.
                if "household_id" not in grant.text:
                    raise AssertionError(grant.text)
                self.truth.retries += 1
                await asyncio.sleep(0.3)

    async def run(self, households: int, workers: int = 6) -> None:
        left = households

        async def worker() -> None:
            nonlocal left
            async with httpx.AsyncClient(timeout=10) as client:
                while left > 0:
                    left -= 1
                    await self.one_household(client)

        await asyncio.gather(*(worker() for _ in range(workers)))


async def grants_in(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id::text AS id, amount_idr FROM grants")
    finally:
        await conn.close()
    return {r["id"]: int(r["amount_idr"]) for r in rows}


async def households_in(database_url: str) -> set[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id::text AS id FROM households")
    finally:
        await conn.close()
    return {r["id"] for r in rows}


async def reporting_totals(reporting: Service, keys: KeySet) -> tuple[int, int, int]:
    async with httpx.AsyncClient(timeout=10) as client:
        reply = await client.get(f"{reporting.url}/progress", headers=keys.bearer(keys.reporting))
    reply.raise_for_status()
    progress = reply.json()
    return (
        progress["households_registered"],
        progress["grants"]["count"],
        progress["grants"]["total_idr"],
    )
