"""The dashboard in a real headless Chromium against the running services: it renders the
programme's figures in Bahasa Indonesia, switches to English, shows the agencies' refused intake
records (none, then some) in its data-quality panel, and leaves a screenshot in
artifacts/dashboard.png."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Final

import httpx
import pytest

from deploy.local import demo_intake
from gayari_shared.agencies import DEFAULT_AGENCIES
from gayari_shared.events.interventions import JAKARTA
from gayari_shared.settings import CommonSettings
from tests.conftest import CREDENTIALS, KeySet
from tests.processes import Service

pytestmark = [pytest.mark.stack, pytest.mark.e2e]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
HOUSEHOLDS = [
    ("6209012001900001", "Agustinus Riwut", "62.09.01.2001", "6209011001900001", "M", "1990-01-10"),
    ("6209032001850002", "Maria Ningsih", "62.09.03.2001", "6209035505850002", "F", "1985-05-15"),
]

# The intake refusals the data-quality panel shows: what Agriculture's system gets wrong in the
# demo (deploy/local/demo_intake.py), and a grant Cooperatives' system sends for a household id
# it mistyped.
REFUSALS: Final = {
    ("distakan", "invalid-data"): 2,
    ("distakan", "rule-violation"): 1,
    ("distakan", "household-not-known-yet"): 1,
    ("dkukmpp", "household-not-known-yet"): 1,
}
REASON_WORDS: Final = {
    "id": {
        "invalid-data": "Data tidak sah (nilai atau kolom salah)",
        "rule-violation": "Melanggar aturan program",
        "household-not-known-yet": "Rumah tangga belum dikenal",
    },
    "en": {
        "invalid-data": "Invalid data (a wrong value or field)",
        "rule-violation": "Breaks a programme rule",
        "household-not-known-yet": "Household not known yet",
    },
}
AGENCY_NAMES: Final = {
    "id": {a.code: a.name for a in DEFAULT_AGENCIES},
    "en": {a.code: a.name_en for a in DEFAULT_AGENCIES},
}


def refusal_rows(lang: str) -> list[list[str]]:
    """The panel's rows the refusals make, as text: the agency by name with its code, the reason
    in words with its code, the count (the last column, a time, left out)."""
    return sorted(
        [f"{AGENCY_NAMES[lang][agency]} {agency}", f"{REASON_WORDS[lang][reason]} {reason}", str(n)]
        for (agency, reason), n in REFUSALS.items()
    )


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: run `make test-tools` (apt-get install chromium)")
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--window-size=1400,1900",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def post_grant(
    http: httpx.AsyncClient,
    services: dict[str, Service],
    keys: KeySet,
    *,
    agency: str,
    household: str,
    amount: int,
) -> None:
    async with asyncio.timeout(30):
        while True:
            reply = await http.post(
                f"{services['interventions'].url}/grants",
                headers=keys.bearer(keys.agencies[agency]),
                json={
                    "household_id": household,
                    "kind": "capital",
                    "amount_idr": amount,
                    "purpose": "Modal usaha",
                },
            )
            # Not known here yet: a retryable 409 until the enrolment arrives.
            if "retry-after" not in reply.headers:
                break
            await asyncio.sleep(0.3)
    assert reply.status_code == 201, reply.text


async def wait_for_grants(services: dict[str, Service], keys: KeySet, count: int) -> None:
    async with httpx.AsyncClient(timeout=10) as http, asyncio.timeout(30):
        while (
            await http.get(
                f"{services['reporting'].url}/progress", headers=keys.bearer(keys.reporting)
            )
        ).json()["grants"]["count"] < count:
            await asyncio.sleep(0.3)


async def seed(services: dict[str, Service], keys: KeySet) -> list[str]:
    """Two enrolled households, each given a capital grant by dinsos and distakan (Rp 11 juta
    in all, two double-funding alerts); returns their ids."""
    households = []
    async with httpx.AsyncClient(timeout=10) as http:
        dinsos = keys.bearer(keys.agencies["dinsos"])
        for kk, name, village, nik, sex, birth in HOUSEHOLDS:
            reply = await http.post(
                f"{services['registry'].url}/households",
                headers=dinsos,
                json={
                    "kk": kk,
                    "head_name": name,
                    "village_code": village,
                    "welfare_decile": 1,
                    "members": [
                        {
                            "name": name,
                            "nik": nik,
                            "sex": sex,
                            "birth_date": birth,
                            "relationship": "head",
                        }
                    ],
                },
            )
            assert reply.status_code == 201, reply.text
            household = reply.json()["id"]
            households.append(household)
            reply = await http.post(
                f"{services['registry'].url}/households/{household}/enrolment",
                headers=dinsos,
                json={"cohort_year": 2026},
            )
            assert reply.status_code == 201, reply.text
            for agency, amount in (("dinsos", 2_000_000), ("distakan", 3_500_000)):
                await post_grant(
                    http, services, keys, agency=agency, household=household, amount=amount
                )
    await wait_for_grants(services, keys, 4)
    return households


async def refuse(
    settings: CommonSettings, services: dict[str, Service], keys: KeySet, households: list[str]
) -> None:
    """The agencies' systems publish REFUSALS' records on their intake topics, logged in as
    their own Kafka principals; returns once reporting counts them all."""
    today = datetime.now(JAKARTA).date()
    reached = [demo_intake.Enrolled(h, today) for h in households]
    for agency, records in (
        ("distakan", demo_intake.mistakes("distakan", reached, "5.1.05.05.03.0002")),
        ("dkukmpp", demo_intake.mistakes("dkukmpp", [], "5.1.05.05.04.0001")),
    ):
        agency_settings = demo_intake.agency_settings(
            CREDENTIALS.directory, agency, settings.topic_prefix
        )
        await demo_intake.publish(agency_settings, agency, records)
    async with httpx.AsyncClient(timeout=10) as http, asyncio.timeout(60):
        while True:
            reply = await http.get(
                f"{services['reporting'].url}/data-quality", headers=keys.bearer(keys.reporting)
            )
            counted = reply.json()["intake_refusals"]
            if counted["total"] >= sum(REFUSALS.values()):
                break
            await asyncio.sleep(0.3)
    found = {(r["agency"], r["reason"]): r["refusals"] for r in counted["by_agency_and_reason"]}
    assert found == REFUSALS


def inside(html: str, element_id: str) -> str:
    """What the <div id=element_id> holds."""
    found = re.search(rf'<div [^>]*id="{element_id}"[^>]*>(.*?)</div>', html, re.S)
    assert found, f"no #{element_id} in the page"
    return found.group(1)


def panel_rows(html: str, element_id: str) -> list[list[str]]:
    """The body rows of the table in #element_id, each cell's text with tags left out."""
    body = re.search(r"<tbody>(.*?)</tbody>", inside(html, element_id), re.S)
    if body is None:
        return []
    return [
        [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found, f"no #{element_id} in the page"
    return found.group(1)


async def test_dashboard_renders_the_programme_in_a_real_browser(
    services: dict[str, Service],
    api_keys: KeySet,
    isolated_settings: CommonSettings,
    tmp_path: Path,
) -> None:
    households = await seed(services, api_keys)
    page = f"{services['reporting'].url}/dashboard"

    indonesian = chromium("--dump-dom", f"{page}#key={api_keys.reporting}", profile=tmp_path / "a")
    html = indonesian.stdout
    assert 'data-state="ready"' in html, indonesian.stderr[-2000:] + html[-2000:]
    assert 'lang="id"' in html
    assert text_of(html, "k-registered") == "2"
    assert text_of(html, "k-enrolled") == "2"
    assert text_of(html, "k-idr") == "Rp 11 jt"  # abbreviated to fit its card, exact beside:
    assert text_of(html, "k-idr-exact") == "Tepatnya: Rp 11.000.000"  # id-ID separators
    assert "Rumah tangga terdaftar" in html and "Data per" in html
    # Nothing refused yet: the data-quality panel says so.
    assert panel_rows(html, "t-quality") == []
    assert "Tidak ada catatan OPD yang ditolak." in inside(html, "t-quality")
    assert "Catatan OPD ditolak: 0" in html

    await refuse(isolated_settings, services, api_keys, households)

    english = chromium(
        "--dump-dom", f"{page}#key={api_keys.reporting}&lang=en", profile=tmp_path / "b"
    )
    assert "Households registered" in english.stdout and 'lang="en"' in english.stdout
    assert "Data as of" in english.stdout
    # The refusals by agency (its English name, the code beside) and reason (in words).
    rows = panel_rows(english.stdout, "t-quality")
    assert sorted(row[:3] for row in rows) == refusal_rows("en"), rows
    assert all(row[3].endswith(" WIB") for row in rows)
    assert "Agency records refused: 5" in english.stdout
    assert "No agency records were refused." not in inside(english.stdout, "t-quality")

    refused = chromium("--dump-dom", f"{page}#key=gyr_000000000000_wrong", profile=tmp_path / "c")
    assert 'data-state="error"' in refused.stdout and "Kunci ditolak." in refused.stdout

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    taken = chromium(
        f"--screenshot={shot}", f"{page}#key={api_keys.reporting}", profile=tmp_path / "d"
    )
    assert shot.exists(), taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
