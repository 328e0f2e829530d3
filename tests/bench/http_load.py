"""The load generator of `bench_http`: a separate process that drives realistic writes against
the registry or the interventions service over keep-alive HTTP/1.1 connections and prints what
it measured as one JSON document on stdout.

A deliberately small HTTP/1.1 client on asyncio streams (one connection per worker and
instance, kept alive): a general-purpose client costs several times the CPU per request, and on
a two-core machine the load generator's CPU is taken from the services it measures.

Phases:
- register: POST /households with households over the real villages of Lamandau;
- enrol: POST /households/{id}/enrolment for the households of a register output;
- interventions: the four agencies' mix of grants, mentoring visits, business surveys, training
  participants and budget allocations for enrolled households, round robin over --url.

Closed loop by default (each worker sends its next request when the last one answered); with
--rate an open loop: request i is due at start + i/rate and its latency counts from then, so a
service that falls behind shows it in the percentiles (no coordinated omission).

Every response is counted by status: a non-2xx answer is an error, never dropped; a broken
connection counts as status 0.

With --idempotency-keys every write carries an Idempotency-Key of its own (a new UUID, quoted),
as a client that may retry sends it: what the keys cost the services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvloop

from gayari_shared.areas import load_areas
from gayari_shared.events.interventions import JAKARTA

AGENCIES = ("dinsos", "dispar", "distakan", "dkukmpp")
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()
# The day of a household's visit or survey: not before its registration (minutes ago), in
# Lamandau's calendar as the service reads it.
TODAY_IN_LAMANDAU = datetime.now(JAKARTA).date()
FIRST_NAMES = (
    "Bonifasius",
    "Theresia",
    "Jumiatun",
    "Yohanes",
    "Maria",
    "Agustinus",
    "Siti",
    "Rahmat",
    "Dewi",
    "Paulus",
    "Nurhayati",
    "Stefanus",
    "Elisabet",
    "Ahmad",
    "Yuliana",
)
LAST_NAMES = (
    "Tamanggung",
    "Anggraini",
    "Sahrani",
    "Damang",
    "Lestari",
    "Pranata",
    "Kurniawan",
    "Rahayu",
    "Saputra",
    "Wulandari",
    "Hidayat",
    "Sinaga",
)
STREETS = (
    "Jalan Sungai Arut",
    "Dusun Pematang Limau",
    "Jalan Tjilik Riwut",
    "Gang Kenari",
    "Jalan Bukit Raya",
    "Dusun Tapin Bini",
)
PURPOSES = (
    "Modal warung sembako",
    "Modal usaha kerupuk ikan",
    "Alat jahit",
    "Keramba ikan nila",
    "Modal kios pulsa",
    "Bibit karet",
    "Peralatan bengkel",
    "Modal usaha anyaman rotan",
)


# -- a minimal keep-alive HTTP/1.1 client ---------------------------------------------------


class HttpConnection:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes, headers: bytes
    ) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Length: {len(body)}\r\n"
        ).encode()
        self._writer.write(head + headers + b"\r\n" + body)
        try:
            status_line = await self._reader.readuntil(b"\r\n")
            response_head = await self._reader.readuntil(b"\r\n\r\n")
            status = int(status_line.split(b" ", 2)[1])
            length, chunked, close = 0, False, False
            for line in response_head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
                elif name == b"connection" and b"close" in value.lower():
                    close = True
            payload = await self._chunked() if chunked else await self._reader.readexactly(length)
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, payload

    async def _chunked(self) -> bytes:
        assert self._reader is not None
        out = bytearray()
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return bytes(out)
            out += await self._reader.readexactly(size)
            await self._reader.readexactly(2)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


# -- what a phase sends ---------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    body: dict[str, Any]
    agency: str
    route: str
    on_created: Callable[[dict[str, Any]], None] | None = None


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    created: int = 0  # 201 answers, in and out of the measured window: each staged one event
    measured_from: float = 0.0
    measured_to: float = 0.0
    last_answer: float = 0.0
    behind_schedule: int = 0  # open loop: requests due in the window but never sent

    def summary(self) -> dict[str, Any]:
        latencies = sorted(self.latencies_ms)
        seconds = max(self.measured_to - self.measured_from, 1e-9)
        total = sum(self.statuses.values())
        ok = sum(n for s, n in self.statuses.items() if 200 <= s < 300)

        def pct(p: float) -> float | None:
            if not latencies:
                return None
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

        return {
            "seconds": round(seconds, 2),
            "requests": total,
            "ok": ok,
            "errors": total - ok,
            "requests_per_s": round(total / seconds, 1),
            "ok_per_s": round(ok / seconds, 1),
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "max_ms": round(latencies[-1], 2) if latencies else None,
            "behind_schedule": self.behind_schedule,
            "statuses": {str(s): n for s, n in sorted(self.statuses.items())},
            "routes": dict(self.routes),
            "error_samples": self.error_samples[:5],
        }


class Workload:
    """Builds the requests of one phase and keeps what their answers tell."""

    def __init__(self, phase: str, rng: random.Random, given: dict[str, Any]) -> None:
        self.phase = phase
        self.rng = rng
        self.villages = [v.code for v in load_areas().villages_in("62.09")]
        self.niks: set[str] = set()
        self.kk_serial = rng.randrange(10**8)
        self.households: list[dict[str, Any]] = list(given.get("households", []))
        self.to_enrol = [h["id"] for h in self.households]
        self.sessions: dict[str, list[str]] = {a: [] for a in AGENCIES}
        self.participants: set[tuple[str, str, str]] = set()
        self.output: list[dict[str, Any]] = []

    def next(self) -> Request | None:
        if self.phase == "register":
            return self._household()
        if self.phase == "enrol":
            if not self.to_enrol:
                return None
            household_id = self.to_enrol.pop()
            return Request(
                "POST",
                f"/households/{household_id}/enrolment",
                {"cohort_year": YESTERDAY.year},
                "dinsos",
                "/households/{id}/enrolment",
                self._keep,
            )
        return self._intervention()

    # registry

    def _nik(self, village: str, birth: date, sex: str) -> str:
        region = "".join(village.split(".")[:3])
        day = birth.day + (40 if sex == "F" else 0)
        while True:
            nik = f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}"
            nik += f"{self.rng.randrange(1, 10000):04d}"
            if nik not in self.niks:
                self.niks.add(nik)
                return nik

    def _person(self, village: str, relationship: str, sex: str, born: int) -> dict[str, Any]:
        birth = date(born, self.rng.randint(1, 12), self.rng.randint(1, 28))
        name = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"
        return {
            "name": name,
            "nik": self._nik(village, birth, sex),
            "sex": sex,
            "birth_date": birth.isoformat(),
            "relationship": relationship,
        }

    def _household(self) -> Request:
        rng = self.rng
        village = rng.choice(self.villages)
        head_born = rng.randint(1955, 1998)
        members = [self._person(village, "head", rng.choice("MF"), head_born)]
        if rng.random() < 0.8:
            members.append(self._person(village, "spouse", rng.choice("MF"), head_born + 2))
        for _ in range(rng.randint(0, 3)):
            members.append(self._person(village, "child", rng.choice("MF"), head_born + 25))
        self.kk_serial += 1
        region = "".join(village.split(".")[:3])
        body = {
            "kk": f"{region}{self.kk_serial % 10**10:010d}",
            "head_name": members[0]["name"],
            "village_code": village,
            "address": {
                "rt": str(rng.randint(1, 20)),
                "rw": str(rng.randint(1, 9)),
                "street": f"{rng.choice(STREETS)} No. {rng.randint(1, 200)}",
            },
            "welfare_decile": rng.randint(1, 4),
            "members": members,
        }

        return Request("POST", "/households", body, "dinsos", "/households", self._keep)

    def _keep(self, household: dict[str, Any]) -> None:
        self.output.append(
            {"id": household["id"], "members": [m["member_id"] for m in household["members"]]}
        )

    # interventions

    # The agencies' mix: (share, what). A participant already in a session is not added again
    # (that would be a 409 by design); a session is recorded instead.
    MIX = (
        (0.30, "capital"),
        (0.10, "equipment"),
        (0.20, "mentoring"),
        (0.20, "survey"),
        (0.17, "participant"),
        (0.015, "session"),
        (0.015, "budget"),
    )

    def _intervention(self) -> Request:
        agency = self.rng.choice(AGENCIES)
        household = self.rng.choice(self.households)
        roll, what = self.rng.random(), "budget"
        for share, kind in self.MIX:
            if roll < share:
                what = kind
                break
            roll -= share
        build = {
            "capital": self._capital,
            "equipment": self._equipment,
            "mentoring": self._mentoring,
            "survey": self._survey,
            "participant": self._participant,
            "session": self._session,
            "budget": self._budget,
        }[what]
        return build(agency, household)

    def _capital(self, agency: str, household: dict[str, Any]) -> Request:
        body = {
            "household_id": household["id"],
            "kind": "capital",
            "amount_idr": self.rng.randrange(500_000, 5_000_000, 50_000),
            "purpose": self.rng.choice(PURPOSES),
        }
        return Request("POST", "/grants", body, agency, "/grants")

    def _equipment(self, agency: str, household: dict[str, Any]) -> Request:
        rng = self.rng
        items = [
            {
                "description": rng.choice(("Bibit ikan nila", "Mesin jahit", "Cangkul", "Etalase")),
                "quantity": rng.randint(1, 500),
                "unit": rng.choice(("ekor", "buah", "set")),
                "unit_value_idr": rng.randrange(500, 200_000, 500),
            }
            for _ in range(rng.randint(1, 3))
        ]
        body = {
            "household_id": household["id"],
            "kind": "equipment",
            "items": items,
            "purpose": rng.choice(PURPOSES),
        }
        return Request("POST", "/grants", body, agency, "/grants")

    def _mentoring(self, agency: str, household: dict[str, Any]) -> Request:
        body = {
            "household_id": household["id"],
            "visited_on": TODAY_IN_LAMANDAU.isoformat(),
            "business_status": self.rng.choice(("running", "growing", "stalled")),
            "notes": "Usaha berjalan, stok cukup",
        }
        return Request("POST", "/mentoring-visits", body, agency, "/mentoring-visits")

    def _survey(self, agency: str, household: dict[str, Any]) -> Request:
        body = {
            "household_id": household["id"],
            "surveyed_on": TODAY_IN_LAMANDAU.isoformat(),
            "monthly_income_idr": self.rng.randrange(300_000, 6_000_000, 10_000),
            "workers": self.rng.randint(1, 4),
        }
        return Request("POST", "/business-surveys", body, agency, "/business-surveys")

    def _participant(self, agency: str, household: dict[str, Any]) -> Request:
        if not self.sessions[agency]:
            return self._session(agency, household)
        session = self.rng.choice(self.sessions[agency])
        member = self.rng.choice(household["members"])
        if (session, household["id"], member) in self.participants:
            return self._session(agency, household)
        self.participants.add((session, household["id"], member))
        body = {"session_id": session, "household_id": household["id"], "member_id": member}
        return Request("POST", "/training-participants", body, agency, "/training-participants")

    def _session(self, agency: str, _: dict[str, Any]) -> Request:
        body = {
            "topic": self.rng.choice(("Budidaya ikan nila", "Pengelolaan homestay", "Pemasaran")),
            "starts_on": (YESTERDAY - timedelta(days=3)).isoformat(),
            "ends_on": YESTERDAY.isoformat(),
            "hours": self.rng.randint(8, 40),
            "place": "Balai Desa",
        }

        def created(session: dict[str, Any]) -> None:
            self.sessions[session["agency"]].append(session["id"])

        return Request("POST", "/training-sessions", body, agency, "/training-sessions", created)

    def _budget(self, agency: str, _: dict[str, Any]) -> Request:
        body = {
            "fiscal_year": YESTERDAY.year,
            "amount_idr": self.rng.randrange(10_000_000, 500_000_000, 1_000_000),
            "budget_line": "5.1.05",
        }
        return Request("POST", "/budget-allocations", body, agency, "/budget-allocations")


# -- driving --------------------------------------------------------------------------------


async def drive(
    workload: Workload,
    urls: list[str],
    keys: dict[str, str],
    *,
    seconds: float,
    warmup: float,
    concurrency: int,
    rate: float | None,
    idempotency_keys: bool = False,
) -> Stats:
    stats = Stats()
    auth = {
        agency: f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n".encode()
        for agency, key in keys.items()
    }
    start = time.perf_counter()
    stats.measured_from = start + warmup
    deadline = stats.measured_from + seconds
    counter = sent = 0

    async def worker() -> None:
        nonlocal counter, sent
        connections = [HttpConnection(url) for url in urls]
        try:
            while True:
                index = counter
                counter += 1
                due = start + index / rate if rate else time.perf_counter()
                if due >= deadline or time.perf_counter() >= deadline:
                    # Open loop: what fell due but was never sent by the end is reported as
                    # behind schedule, and the rate is what was answered in the window.
                    return
                if rate:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                request = workload.next()
                if request is None:
                    return
                sent += 1
                connection = connections[index % len(connections)]
                body = json.dumps(request.body).encode()
                headers = auth[request.agency]
                if idempotency_keys:
                    headers += b'Idempotency-Key: "%s"\r\n' % str(uuid.uuid4()).encode()
                try:
                    status, payload = await connection.request(
                        request.method, request.path, body, headers
                    )
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    status, payload = 0, f"{type(exc).__name__}: {exc}".encode()
                finished = time.perf_counter()
                if status == 201:
                    stats.created += 1
                if 200 <= status < 300 and request.on_created is not None:
                    request.on_created(json.loads(payload))
                if due < stats.measured_from:
                    continue  # warm-up: its writes count for verification, not for the numbers
                stats.last_answer = max(stats.last_answer, finished)
                stats.latencies_ms.append((finished - due) * 1000)
                stats.statuses[status] += 1
                stats.routes[request.route] += 1
                if not 200 <= status < 300 and len(stats.error_samples) < 20:
                    stats.error_samples.append(f"{status} {request.route}: {payload[:300]!r}")
        finally:
            for connection in connections:
                connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    # Up to the last answer: in an open loop that fell behind, answers come after the deadline.
    stats.measured_to = max(stats.last_answer, stats.measured_from + 1e-3)
    if rate:
        stats.behind_schedule = max(0, int(rate * (warmup + seconds)) - sent)
    return stats


async def prepare_sessions(workload: Workload, urls: list[str], keys: dict[str, str]) -> int:
    """A few training sessions per agency before the measured mix (their writes are counted
    as accepted events too)."""
    created = 0
    connection = HttpConnection(urls[0])
    try:
        for agency in AGENCIES:
            for _ in range(10):
                body = json.dumps(
                    {
                        "topic": "Budidaya ikan nila",
                        "starts_on": (YESTERDAY - timedelta(days=3)).isoformat(),
                        "ends_on": YESTERDAY.isoformat(),
                        "hours": 16,
                        "place": "Balai Desa",
                    }
                ).encode()
                headers = (
                    f"Authorization: Bearer {keys[agency]}\r\nContent-Type: application/json\r\n"
                ).encode()
                status, payload = await connection.request(
                    "POST", "/training-sessions", body, headers
                )
                if status != 201:
                    raise RuntimeError(f"training session not recorded: {status} {payload[:300]!r}")
                workload.sessions[agency].append(json.loads(payload)["id"])
                created += 1
    finally:
        connection.close()
    return created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", choices=("register", "enrol", "interventions"), required=True)
    parser.add_argument("--url", action="append", required=True, help="repeat: round robin")
    parser.add_argument("--keys", type=Path, required=True, help="JSON {agency: API key}")
    parser.add_argument("--input", type=Path, help="households of an earlier phase (JSON)")
    parser.add_argument("--output", type=Path, help="where the created households go (JSON)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=None, help="requests/s (open loop)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--idempotency-keys", action="store_true", help="an Idempotency-Key on every write"
    )
    args = parser.parse_args()

    keys: dict[str, str] = json.loads(args.keys.read_text())
    given: dict[str, Any] = json.loads(args.input.read_text()) if args.input else {}
    workload = Workload(args.phase, random.Random(args.seed or uuid.uuid4().int), given)

    async def run() -> dict[str, Any]:
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        setup_created = 0
        if args.phase == "interventions":
            setup_created = await prepare_sessions(workload, args.url, keys)
        stats = await drive(
            workload,
            args.url,
            keys,
            seconds=args.seconds,
            warmup=args.warmup,
            concurrency=args.concurrency,
            rate=args.rate,
            idempotency_keys=args.idempotency_keys,
        )
        return {
            "phase": args.phase,
            "urls": args.url,
            "concurrency": args.concurrency,
            "rate": args.rate,
            "idempotency_keys": args.idempotency_keys,
            **stats.summary(),
            "created_total": stats.created + setup_created,
            "loadgen_cpu_pct": round(
                100 * (time.process_time() - cpu_started) / (time.perf_counter() - wall_started), 1
            ),
        }

    # libuv's loop, as the services run on: asyncio's own costs the load generator about a
    # third more CPU per request, taken from the services on a two-core machine.
    result = uvloop.run(run())
    if args.output is not None:
        args.output.write_text(json.dumps({"households": workload.output}))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
