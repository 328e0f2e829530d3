"""The monthly report's figures in the id-ID format, its areas' titles and its words for the
reasons of refused records."""

from __future__ import annotations

import re
from pathlib import Path

import gayari_reporting.entrypoints
from gayari_reporting.domain.areas import Area
from gayari_reporting.entrypoints.monthly_report import (
    REASON_NAMES,
    millions,
    number,
    percent,
    rupiah,
    title_of,
)
from gayari_reporting.service_layer.monthly_report import child_of


def test_numbers_are_written_the_indonesian_way() -> None:
    assert number(2_720_000_000) == "2.720.000.000"
    assert number(0) == "0"
    assert rupiah(1_004_500_000) == "Rp 1.004.500.000"
    assert millions(1_004_500_000) == "1.004,5"
    assert percent(25.1) == "25,1 %"
    assert percent(None) == rupiah(None) == "\N{EN DASH}"


def test_areas_are_titled_once() -> None:
    assert title_of(Area("62.09", "Kabupaten Lamandau", "regency")) == "Kabupaten Lamandau"
    assert title_of(Area("62.09.01", "Lamandau", "district")) == "Kecamatan Lamandau"


def test_a_village_counts_in_its_child_of_the_area() -> None:
    regency = Area("62.09", "Kabupaten Lamandau", "regency")
    assert child_of(regency, "62.09.03.2001") == "62.09.03"
    assert child_of(Area("62.09.03", "Bulik", "district"), "62.09.03.2001") == "62.09.03.2001"
    assert child_of(regency, None) == ""


def _dashboard_reasons() -> dict[str, str]:
    """The Indonesian words of the dashboard's data-quality panel for each reason code."""
    page = (
        Path(gayari_reporting.entrypoints.__file__).parent / "static" / "dashboard.html"
    ).read_text()
    block = re.search(r"reasons: \{(.*?)\}", page, re.DOTALL)
    assert block is not None, "the dashboard's Indonesian reasons table"
    pairs = re.findall(r'"?([a-z][a-z-]*)"?: "([^"]+)"', block.group(1))
    return {code: words for code, words in pairs if code != "other"}


def test_the_monthly_report_names_every_reason_the_dashboard_names_alike() -> None:
    dashboard = _dashboard_reasons()
    assert "invalid-data" in dashboard
    assert set(REASON_NAMES) == set(dashboard)
    for code, words in dashboard.items():
        assert REASON_NAMES[code].lower() == words.lower(), code
