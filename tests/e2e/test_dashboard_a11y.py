"""The dashboard usable by everyone: axe-core (every rule it has) in headless Chromium finds no
serious or critical violation, in Bahasa Indonesia and in English, with data in the page, on the
key form and on a refused key; every figure fits its card from a phone's width up; times are
WIB whatever the browser's zone; amounts and counts in the id-ID format; areas, kinds of
record, and the agencies and reasons of refused intake records (the data-quality panel) by
name. The result is kept in artifacts/axe-dashboard.json, a full-page screenshot in
artifacts/dashboard-full.png."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from gayari_shared.settings import CommonSettings
from tests.browser_tools import ARTIFACTS, drive
from tests.conftest import KeySet
from tests.e2e.test_dashboard_browser import (
    HOUSEHOLDS,
    post_grant,
    refusal_rows,
    refuse,
    seed,
    wait_for_grants,
)
from tests.processes import Service

pytestmark = [pytest.mark.stack, pytest.mark.e2e]
WIDTHS = [320, 375, 768, 1024, 1400, 1920]
SERIOUS = {"serious", "critical"}
JAKARTA = ZoneInfo("Asia/Jakarta")


def by_impact(result: dict[str, Any]) -> dict[str, int]:
    return dict(Counter(str(v["impact"]) for v in result["violations"]))


def keep(report: dict[str, Any]) -> None:
    """The audit so far, kept even if an assertion fails."""
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "axe-dashboard.json").write_text(json.dumps(report, indent=2) + "\n")


async def seed_large(services: dict[str, Service], keys: KeySet) -> list[str]:
    """The two households of the dashboard test, then grants and a budget that make the funds
    disbursed Rp 2.720.000.000 (too long for a card unabbreviated)."""
    households = await seed(services, keys)
    async with httpx.AsyncClient(timeout=10) as http:
        for agency, household, amount in (
            ("dinsos", households[0], 1_000_000_000),
            ("distakan", households[1], 1_000_000_000),
            ("dkukmpp", households[1], 709_000_000),
        ):
            await post_grant(
                http, services, keys, agency=agency, household=household, amount=amount
            )
        reply = await http.post(
            f"{services['interventions'].url}/budget-allocations",
            headers=keys.bearer(keys.agencies["dinsos"]),
            json={"fiscal_year": datetime.now(JAKARTA).year, "amount_idr": 4_000_000_000},
        )
        assert reply.status_code == 201, reply.text
    await wait_for_grants(services, keys, 7)
    return households


async def test_axe_finds_nothing_serious_in_either_language(
    services: dict[str, Service], api_keys: KeySet, isolated_settings: CommonSettings
) -> None:
    households = await seed_large(services, api_keys)
    await refuse(isolated_settings, services, api_keys, households)
    reporting = services["reporting"].url
    reader = api_keys.bearer(api_keys.reporting)
    async with httpx.AsyncClient(timeout=10) as http:
        summary = (await http.get(f"{reporting}/summary?area=62.09", headers=reader)).json()
        villages = {
            code: (await http.get(f"{reporting}/areas/{code}", headers=reader)).json()["area"]
            for code in {h[2] for h in HOUSEHOLDS}
        }
    assert summary["idr_disbursed"] == 2_720_000_000
    as_of = datetime.fromisoformat(summary["as_of"]).astimezone(JAKARTA)
    page = f"{reporting}/dashboard"

    report: dict[str, Any] = {}
    for lang, short, exact, kind, clock in (
        ("id", "Rp 2,72 M", "Tepatnya: Rp 2.720.000.000", "Bantuan modal", as_of.strftime("%H.%M")),
        ("en", "Rp 2,72 bn", "Exactly: Rp 2.720.000.000", "Capital grant", as_of.strftime("%H:%M")),
    ):
        # The browser in New York: the page must still say WIB and show Jakarta's clock.
        result = drive(
            {
                "action": "audit",
                "url": f"{page}#key={api_keys.reporting}&lang={lang}",
                "timezone": "America/New_York",
                "widths": WIDTHS,
            }
        )
        report[lang] = {
            "axe_core": result["version"],
            "by_impact": by_impact(result),
            "violations": result["violations"],
        }
        keep(report)
        assert result["state"] == "ready" and result["lang"] == lang, result["errors"]
        assert result["errors"] == []
        assert [v for v in result["violations"] if v["impact"] in SERIOUS] == []
        assert [o for o in result["overflow"] if o["cut"]] == [], result["overflow"]
        text = result["text"]
        assert short in text and exact in text
        assert f"{clock} WIB" in text, text[:400]
        assert kind in text  # the double-funding alerts' kind, by name
        for code, area in villages.items():
            assert f"{area['name']} {code}" in text  # the village by name, the code beside
        # The data-quality panel: the refusals by agency and reason, named in the page's
        # language with the codes beside, and their total.
        for row in refusal_rows(lang):
            assert "\t".join(row) in text, text[text.find(row[0][:12]) - 200 :][:1200]
        total = "Jumlah" if lang == "id" else "Total"
        assert f"{total}\t\t5" in text
        # Every chart has its data as a table.
        assert text.count("Data sebagai tabel" if lang == "id" else "Data as a table") == 5

        for state, url in (
            ("login", f"{page}#lang={lang}"),
            ("error", f"{page}#key=gyr_000000000000_wrong&lang={lang}"),
        ):
            form = drive({"action": "audit", "url": url})
            report[f"{lang}-{state}"] = {
                "by_impact": by_impact(form),
                "violations": form["violations"],
            }
            keep(report)
            assert form["state"] == state and form["lang"] == lang
            assert [v for v in form["violations"] if v["impact"] in SERIOUS] == []

    shot = ARTIFACTS / "dashboard-full.png"
    shot.unlink(missing_ok=True)
    taken = drive(
        {
            "action": "screenshot",
            "url": f"{page}#key={api_keys.reporting}&lang=id",
            "out": str(shot),
        }
    )
    assert taken["state"] == "ready"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
