from __future__ import annotations

from datetime import UTC, datetime

from gayari_reporting.domain.projection import GrantTotals, progress_report
from gayari_shared.agencies import DEFAULT_AGENCIES


def test_report_lists_every_agency_and_adds_up() -> None:
    report = progress_report(
        households=7,
        grants_by_agency={
            "dinsos": GrantTotals(count=2, total_idr=3_000_000),
            "retired": GrantTotals(count=1, total_idr=500),
        },
        trainings_by_agency={"dispar": 4},
        agencies=DEFAULT_AGENCIES,
        as_of=datetime.now(UTC),
    )
    codes = [row.agency for row in report.agencies]
    assert codes == ["dinsos", "dispar", "distakan", "dkukmpp", "retired"]
    assert report.grants == GrantTotals(count=3, total_idr=3_000_500)
    assert report.trainings_completed == 4
    assert report.households_registered == 7
    distakan = report.agencies[2]
    assert distakan.grants.count == 0 and distakan.trainings_completed == 0
