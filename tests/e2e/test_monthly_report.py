"""The monthly report for the regent's office, printed by headless Chromium to an A4 PDF and read
back with poppler's pdftotext: one or two pages, in Bahasa Indonesia, with the month's and the
year's figures. Keeps artifacts/monthly-report.pdf and a PNG of page one
(artifacts/monthly-report.png, pdftoppm at 80 dpi)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from gayari_reporting.entrypoints.monthly_report import MONTHS
from tests.browser_tools import ARTIFACTS, drive
from tests.conftest import KeySet
from tests.e2e.test_dashboard_a11y import JAKARTA, seed_large
from tests.e2e.test_dashboard_browser import HOUSEHOLDS
from tests.processes import Service

pytestmark = [pytest.mark.stack, pytest.mark.e2e]


def poppler(tool: str, *args: str) -> str:
    binary = shutil.which(tool)
    if binary is None:
        pytest.fail(
            f"{tool} is not installed: run `make test-tools` (apt-get install poppler-utils)"
        )
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def pages_of(pdf: Path) -> int:
    found = re.search(r"^Pages:\s+(\d+)$", poppler("pdfinfo", str(pdf)), re.MULTILINE)
    assert found, "pdfinfo gave no page count"
    return int(found.group(1))


async def test_the_monthly_report_prints_on_one_or_two_a4_pages(
    services: dict[str, Service], api_keys: KeySet
) -> None:
    await seed_large(services, api_keys)
    reporting = services["reporting"].url
    reader = api_keys.bearer(api_keys.reporting)
    now = datetime.now(JAKARTA)
    month = now.strftime("%Y-%m")
    url = f"{reporting}/reports/monthly?month={month}&area=62.09"
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.get(url, headers=reader)
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("text/html")
        assert (await http.get(url)).status_code == 401
        for bad in ("month=2026-13", "", f"month={month}&agency=dinsos", f"month={month}&area=99"):
            refused = await http.get(f"{reporting}/reports/monthly?{bad}", headers=reader)
            assert refused.status_code == 422, (bad, refused.text)
        refused = await http.get(f"{url}&snapshot=rm_asof_19990101", headers=reader)
        assert refused.status_code == 422 and "snapshot" in refused.text
        districts = {}
        for village in {h[2] for h in HOUSEHOLDS}:
            code = village.rsplit(".", 1)[0]
            area = (await http.get(f"{reporting}/areas/{code}", headers=reader)).json()["area"]
            districts[code] = area["name"]
        # A month with nothing in it is a report of zeros, not an error.
        empty = await http.get(f"{reporting}/reports/monthly?month=2025-01", headers=reader)
        assert empty.status_code == 200 and "Januari 2025" in empty.text

    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "monthly-report.pdf"
    pdf.unlink(missing_ok=True)
    drive({"action": "pdf", "url": url, "headers": reader, "out": str(pdf)})
    assert 1 <= pages_of(pdf) <= 2

    text = re.sub(r"[ \t]+", " ", poppler("pdftotext", "-layout", str(pdf), "-"))
    month_name = f"{MONTHS[now.month - 1]} {now.year}"
    for expected in (
        "Laporan Bulanan Program GAYARI",
        f"Lamandau (62.09) — {month_name}",
        f"Tahun {now.year}",
        "Dana tersalurkan Rp 2.720.000.000 Rp 2.720.000.000",  # the month's and the year's
        "Dinas Sosial",
        "Realisasi",  # the last column of the widest table: nothing cut off at the margin
        "25,1 %",  # Social Affairs: Rp 1.004.000.000 of its Rp 4.000.000.000 budget
        "Konvergensi",
        "Belum terlayani",
        "Peringatan pendanaan ganda",
        "Bantuan modal",
        "Kualitas data",
        "Mengetahui,",
        " WIB",
    ):
        assert expected in text, f"{expected!r} not in the PDF:\n{text}"
    for code, name in districts.items():
        assert f"{name} {code}" in text

    # The dashboard's link opens it (fetched with the visitor's key, shown as a page).
    followed = drive(
        {
            "action": "follow",
            "url": f"{reporting}/dashboard#key={api_keys.reporting}",
            "click": "#report-link",
        }
    )
    assert followed["state"] == "ready" and followed["errors"] == []
    assert followed["title"] == f"Laporan Bulanan GAYARI — Kabupaten Lamandau — {month_name}"

    png = ARTIFACTS / "monthly-report.png"
    png.unlink(missing_ok=True)
    poppler("pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf),
            str(png.with_suffix("")))  # fmt: skip
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
