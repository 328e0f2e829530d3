"""The read models on real Kafka and PostgreSQL: a small but realistic programme is published
(a grant before its household's registration, a duplicate, a voided grant, budgets, surveys, an
exit as graduated, households in two districts and one outside Lamandau), projected, and every
view is checked against figures worked out here from the events sent, mostly by the plain
recount (domain/recount.py), which shares no code with the SQL."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import openpyxl  # type: ignore[import-untyped]
import pytest
from aiokafka import AIOKafkaProducer

from gayari_reporting.adapters.areas import area_index
from gayari_reporting.adapters.spreadsheets import COUNT_FORMAT, PERCENT_FORMAT, RUPIAH_FORMAT
from gayari_reporting.bootstrap import create_app
from gayari_reporting.domain.calendar import months_between
from gayari_reporting.domain.filters import encode_cursor
from gayari_reporting.domain.recount import from_envelopes, recount
from gayari_reporting.service_layer import exports
from gayari_reporting.settings import ReportingSettings
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.events.contracts import (
    BudgetAllocatedV1,
    BusinessSurveyedV1,
    EventBase,
    EventData,
    GrantIssuedV1,
    GrantIssuedV2,
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
    InterventionVoidedV1,
    MentoringVisitedV1,
    TrainingCompletedV2,
)
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.factory import envelope_for
from gayari_shared.events.interventions import JAKARTA
from gayari_shared.kafka.topics import domain_topics, ensure_topics
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet

pytestmark = pytest.mark.stack
T0 = datetime(2026, 2, 3, 2, 0, tzinfo=UTC)
AS_OF = date(2026, 9, 30)


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


@dataclass
class Programme:
    events: list[Envelope]  # in publishing order; the late registration is not among them
    late: Envelope  # a registration published after its household's grant was projected
    village: dict[uuid.UUID, str]  # each household's final village
    enrolled_on: dict[uuid.UUID, date]
    exited: set[uuid.UUID]
    late_household: uuid.UUID
    voided_grant: uuid.UUID


def villages() -> tuple[str, str, str, str]:
    index = area_index()
    a1, a2 = (v.code for v in index.children("62.09.01")[:2])
    b1 = index.children("62.09.03")[0].code
    outside = index.children(index.children("62.01")[0].code)[0].code
    return a1, a2, b1, outside


def programme() -> Programme:
    a1, a2, b1, outside = villages()
    homes = [a1] * 4 + [a2] * 2 + [b1] * 5 + [outside]
    hh = [uuid.uuid4() for _ in homes]
    late_hh = uuid.uuid4()
    events: list[Envelope] = []
    village = dict(zip(hh, homes, strict=True))
    village[late_hh] = b1
    enrolled_on: dict[uuid.UUID, date] = {}
    exited: set[uuid.UUID] = set()

    def add(data: EventBase) -> Envelope:
        envelope = envelope_for(data, source="/gayari/test", correlation_id="rm")
        events.append(envelope)
        return envelope

    def registration(hid: uuid.UUID, code: str, decile: int, day: int) -> HouseholdRegisteredV1:
        return HouseholdRegisteredV1(
            household_id=hid,
            village_code=code,
            welfare_decile=decile,
            member_count=4,
            kk_hash=uuid.uuid4().hex * 2,
            registered_at=at(day),
        )

    for i, (hid, code) in enumerate(zip(hh, homes, strict=True)):
        add(registration(hid, code, 1 + i % 3, i))
    for i, hid in enumerate([*hh[:10], late_hh]):
        add(
            HouseholdEnrolledV1(
                household_id=hid,
                cohort_year=2026,
                enrolling_agency="dinsos",
                enrolled_at=at(20 + i),
            )
        )
        enrolled_on[hid] = at(20 + i).date()
    # hh[5] moves from district A to B; the later change wins whatever the order.
    add(
        HouseholdDetailsChangedV1(
            household_id=hh[5], changed=["village_code"], village_code=b1, changed_at=at(40)
        )
    )
    village[hh[5]] = b1
    add(
        HouseholdDetailsChangedV1(
            household_id=hh[0], changed=["welfare_decile"], welfare_decile=4, changed_at=at(150)
        )
    )
    add(HouseholdExitedV1(household_id=hh[1], reason="graduated", exited_at=at(200)))
    add(HouseholdExitedV1(household_id=hh[2], reason="moved", exited_at=at(201)))
    exited |= {hh[1], hh[2]}

    def grant(hid: uuid.UUID, agency: str, kind: Any, idr: int, day: int, *, fy: int = 2026) -> Any:
        return add(
            GrantIssuedV2(
                household_id=hid,
                grant_id=uuid.uuid4(),
                agency=agency,
                kind=kind,
                amount_idr=idr,
                purpose="Modal usaha",
                fiscal_year=fy,
                issued_at=at(day),
            )
        )

    # Double funding: hh[0] capital from dinsos and distakan in 2026.
    grant(hh[0], "dinsos", "capital", 2_500_000, 30)
    duplicate = grant(hh[0], "distakan", "capital", 3_000_000, 60)
    # hh[1]: equipment from dispar and dkukmpp, but dkukmpp's is voided: no alert.
    grant(hh[1], "dispar", "equipment", 1_750_000, 35)
    voided = grant(hh[1], "dkukmpp", "equipment", 4_000_000, 36)
    voided_id = voided.data["grant_id"]
    add(
        InterventionVoidedV1(
            intervention_id=uuid.UUID(voided_id),
            intervention_type="grant",
            household_id=hh[1],
            agency="dkukmpp",
            reason="entered-in-error",
            voided_at=at(37),
        )
    )
    # hh[3]: capital from two agencies but in different fiscal years: no alert.
    grant(hh[3], "dinsos", "capital", 1_000_000, 10, fy=2025)
    grant(hh[3], "distakan", "capital", 1_200_000, 70)
    grant(hh[6], "dkukmpp", "capital", 2_000_000, 95)
    grant(hh[11], "dinsos", "capital", 900_000, 96)  # outside Lamandau
    add(
        GrantIssuedV1(
            household_id=hh[7],
            grant_id=uuid.uuid4(),
            agency="distakan",
            kind="equipment",
            amount_idr=600_000,
            issued_at=at(120),
        )
    )
    # The late household's grant is projected before the registry's event about it.
    grant(late_hh, "dispar", "capital", 1_500_000, 100)
    for hid, agency, day in ((hh[0], "dispar", 45), (hh[4], "dispar", 46), (hh[6], "dinsos", 47)):
        add(
            TrainingCompletedV2(
                household_id=hid,
                completion_id=uuid.uuid4(),
                session_id=uuid.uuid4(),
                member_id=uuid.uuid4(),
                agency=agency,
                topic="Pembukuan usaha",
                hours=16,
                completed_on=at(day).date(),
                recorded_at=at(day),
            )
        )
    for hid, agency, day in ((hh[0], "dkukmpp", 80), (hh[5], "distakan", 200)):
        add(
            MentoringVisitedV1(
                household_id=hid,
                visit_id=uuid.uuid4(),
                agency=agency,
                visited_on=at(day).date(),
                business_status="running",
                recorded_at=at(day),
            )
        )
    for hid, incomes in (
        (hh[0], (800_000, 1_500_000)),
        (hh[3], (1_000_000, 900_000)),
        (hh[6], (500_000, 500_000)),
        (hh[4], (700_000,)),
    ):
        for n, income in enumerate(incomes):
            add(
                BusinessSurveyedV1(
                    household_id=hid,
                    survey_id=uuid.uuid4(),
                    agency="dkukmpp",
                    surveyed_on=at(30 + 120 * n).date(),
                    monthly_income_idr=income,
                    workers=1 + n,
                    recorded_at=at(30 + 120 * n),
                )
            )
    for agency, idr, fy in (
        ("dinsos", 100_000_000, 2026),
        ("dinsos", 20_000_000, 2026),
        ("distakan", 50_000_000, 2026),
        ("dinsos", 80_000_000, 2025),
    ):
        add(
            BudgetAllocatedV1(
                agency=agency,
                allocation_id=uuid.uuid4(),
                fiscal_year=fy,
                amount_idr=idr,
                allocated_at=at(1),
            )
        )
    events.append(duplicate)  # the outbox relay sent it twice
    late = envelope_for(registration(late_hh, b1, 2, 3), source="/gayari/test", correlation_id="rm")
    return Programme(events, late, village, enrolled_on, exited, late_hh, uuid.UUID(voided_id))


async def publish(settings: CommonSettings, envelopes: list[Envelope], junk: int = 0) -> None:
    await ensure_topics(settings.kafka_connection(), domain_topics(settings))
    producer = AIOKafkaProducer(**settings.kafka_connection().client_options(), acks="all")
    await producer.start()
    try:
        for envelope in envelopes:
            stream = (
                "households" if envelope.type.startswith("gayari.household") else "interventions"
            )
            record = envelope.to_kafka(settings.topic(stream))
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
        for _ in range(junk):
            await producer.send_and_wait(settings.topic("interventions"), b"{oops", key=b"k")
    finally:
        await producer.stop()


async def caught_up(http: httpx.AsyncClient, records: int) -> None:
    async with asyncio.timeout(60):
        while True:
            status = (await http.get("/projection/status")).json()
            if status["events_projected_since_start"] >= records and status["events_behind"] == 0:
                return
            await asyncio.sleep(0.2)


@dataclass
class Run:
    http: httpx.AsyncClient
    keys: KeySet
    case_key: str
    programme: Programme


@pytest.fixture
async def run(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[Run]:
    case_key, record = issue_key("case worker", {Role.REPORTING_CASE})
    KeyFile(api_keys.path).add(record)
    prog = programme()
    await publish(isolated_settings, prog.events, junk=1)
    settings = ReportingSettings(
        database_url=await databases.create("reporting", migrated="reporting"),
        consumer_group=f"rm-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(isolated_settings, settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers=api_keys.bearer(api_keys.reporting),
        ) as http,
    ):
        await caught_up(http, len(prog.events) + 1)
        quality = (await http.get("/data-quality")).json()
        assert quality["waiting_for_household"]["households"] == 1
        assert quality["waiting_for_household"]["by_type"] == {"grant": 1}
        # Its case: enrolled, not registered yet, its grant listed.
        waiting = await http.get(
            f"/households/{prog.late_household}/case", headers=api_keys.bearer(case_key)
        )
        assert waiting.status_code == 200, waiting.text
        assert waiting.json()["household"]["registered"] is False
        assert [e["kind"] for e in waiting.json()["entries"]] == ["grant-capital"]
        await publish(isolated_settings, [prog.late])
        await caught_up(http, len(prog.events) + 2)
        yield Run(http, api_keys, case_key, prog)


async def get(run: Run, path: str, **params: Any) -> Any:
    response = await run.http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_summary_agencies_convergence_and_double_funding_match_the_recount(run: Run) -> None:
    expected = recount(from_envelopes([*run.programme.events, run.programme.late]))
    summary = await get(run, "/summary")
    assert summary["households"] == {
        "registered": expected.households_registered,
        "enrolled": expected.households_enrolled,
        "exited": expected.households_exited,
        "graduated": expected.households_graduated,
        "reached": expected.households_reached,
    }
    assert summary["interventions"] == expected.interventions
    assert summary["idr_disbursed"] == expected.idr_disbursed
    assert summary["trainings_completed"] == expected.trainings_completed
    assert expected.households_graduated == 1 and expected.households_registered == 13

    agencies = {row["agency"]: row for row in (await get(run, "/agencies"))["agencies"]}
    for code, figures in expected.agencies.items():
        row = agencies[code]
        for name, value in vars(figures).items():
            assert row[name] == value, (code, name)
        if figures.budget_allocated_idr:
            assert row["realisation_percent"] == round(
                100 * figures.idr_disbursed / figures.budget_allocated_idr, 2
            )
    budget_2026 = await get(run, "/agencies", fiscal_year=2026, agency="dinsos")
    (dinsos,) = budget_2026["agencies"]
    assert dinsos["budget_allocated_idr"] == 120_000_000
    assert dinsos["idr_disbursed"] == 2_500_000 + 900_000  # the 2025 grant is not in 2026

    convergence = await get(run, "/convergence")
    assert {
        r["agencies"]: r["households"] for r in convergence["reached_by"] if r["households"]
    } == (expected.reached_by)
    assert [r["agencies"] for r in convergence["reached_by"]] == [1, 2, 3, 4]
    assert (
        convergence["enrolled_reached_by_two_or_more"] == expected.enrolled_reached_by_two_or_more
    )
    assert convergence["collaboration_percent"] == round(
        100 * expected.enrolled_reached_by_two_or_more / expected.households_enrolled, 2
    )

    alerts = (await get(run, "/double-funding"))["alerts"]
    assert {
        (uuid.UUID(a["household_id"]), a["fiscal_year"], a["kind"], tuple(a["agencies"]))
        for a in alerts
    } == expected.double_funding
    assert len(alerts) == 1
    # A page at a time: the cursor of a full page leads to the rest, then to no more.
    first = await get(run, "/double-funding", limit=1)
    assert first["alerts"] == alerts and first["total"] == 1 and first["next"]
    rest = await get(run, "/double-funding", limit=1, after=first["next"])
    assert rest == {**first, "alerts": [], "next": None}


async def test_areas_roll_up_along_the_hierarchy(run: Run) -> None:
    prog = run.programme
    registered = Counter(prog.village.values())
    regency = await get(run, "/areas/62.09")
    assert regency["area"]["households_registered"] == sum(
        n for code, n in registered.items() if code.startswith("62.09.")
    )
    districts = {row["code"]: row for row in regency["children"]}
    assert set(districts) == {a.code for a in area_index().children("62.09")}
    for code, row in districts.items():
        assert row["households_registered"] == sum(
            n for v, n in registered.items() if v.startswith(code + ".")
        )
    district = await get(run, "/areas/62.09.01")
    villages = {row["code"]: row["households_registered"] for row in district["children"]}
    for code, n in registered.items():
        if code.startswith("62.09.01."):
            assert villages[code] == n
    province = await get(run, "/areas/62")
    assert province["area"]["households_registered"] == len(prog.village)
    country = await get(run, "/areas")
    assert country["area"]["households_registered"] == len(prog.village)
    # IDR by area follows the households' current villages; agency filters apply.
    idr_by_district: dict[str, int] = defaultdict(int)
    expected_events = from_envelopes(prog.events)
    voided = {prog.voided_grant}
    seen: set[uuid.UUID] = set()
    for _, data in expected_events:
        if isinstance(data, GrantIssuedV2) and data.grant_id not in voided | seen:
            seen.add(data.grant_id)
            idr_by_district[prog.village[data.household_id][:8]] += data.amount_idr
    for code, row in districts.items():
        assert row["idr_disbursed"] == idr_by_district.get(code, 0), code
    village_view = await get(run, f"/areas/{prog.village[prog.late_household]}")
    assert village_view["children"] == []


def after_(cursor: str | None) -> dict[str, str]:
    return {} if cursor is None else {"after": cursor}


async def unserved_exported(run: Run, query: dict[str, Any]) -> list[str]:
    """The households of the unserved export, the same in the Indonesian CSV and in XLSX."""
    listing = await run.http.get("/exports/unserved.csv", params=query | {"dialect": "id"})
    text = listing.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    book = await run.http.get("/exports/unserved.xlsx", params=query)
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    at = [c.value for c in sheet[1]].index("household_id")
    listed = [r["household_id"] for r in rows]
    assert [r[at] for r in sheet.iter_rows(min_row=2, values_only=True)] == listed
    return listed


async def test_time_series_unserved_and_outcomes(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    prog = run.programme
    months = {m["month"]: m for m in (await get(run, "/timeseries"))["months"]}
    by_month: Counter[str] = Counter()
    for _, data in from_envelopes(prog.events):
        if isinstance(data, HouseholdRegisteredV1):
            by_month[data.registered_at.strftime("%Y-%m")] += 1
    for month, n in by_month.items():
        assert months[month]["households_registered"] >= n
    assert sum(m["households_registered"] for m in months.values()) == len(prog.village)
    assert sum(m["grants"] for m in months.values()) == 9
    calendar = list(months)  # the calendar kept: no month between the first and last skipped
    assert calendar == list(months_between(calendar[0], calendar[-1]))

    # Unserved: enrolled, not exited, nothing since `days` before as_of.
    last: dict[uuid.UUID, date] = dict(prog.enrolled_on)
    for _, data in from_envelopes([*prog.events, prog.late]):
        day = None
        if isinstance(data, GrantIssuedV2) and data.grant_id != prog.voided_grant:
            day = data.issued_at.date()
        elif isinstance(data, TrainingCompletedV2):
            day = data.completed_on
        elif isinstance(data, MentoringVisitedV1):
            day = data.visited_on
        if day is not None and isinstance(data, EventData) and data.household_id in last:
            last[data.household_id] = max(last[data.household_id], day)
    for days in (90, 200):
        view = await get(run, "/unserved", days=days, as_of=AS_OF.isoformat())
        listed = {h["household_id"] for v in view["villages"] for h in v["households"]}
        expected = {
            str(h) for h, day in last.items() if h not in prog.exited and (AS_OF - day).days > days
        }
        assert listed == expected and view["households"] == len(expected)
        pages, after = [], None
        while True:  # a household a page, by village then the longest without contact
            page = await get(
                run, "/unserved", days=days, as_of=AS_OF.isoformat(), limit=1, **after_(after)
            )
            assert page["households"] == len(expected)
            pages += [h["household_id"] for v in page["villages"] for h in v["households"]]
            if (after := page["next"]) is None:
                break
        assert pages == [h["household_id"] for v in view["villages"] for h in v["households"]]
        assert len(pages) == len(expected) >= 2
        # The export reads the list a page at a time (here a household a page): same rows.
        monkeypatch.setattr(exports, "UNSERVED_PAGE", 1)
        assert await unserved_exported(run, {"days": days, "as_of": AS_OF.isoformat()}) == pages
    lamandau_only = await get(
        run, "/unserved", days=90, as_of=AS_OF.isoformat(), district="62.09.03"
    )
    assert all(v["district_code"] == "62.09.03" for v in lamandau_only["villages"])

    outcomes = await get(run, "/outcomes")
    assert outcomes["graduated"] == 1 and outcomes["enrolled"] == len(prog.enrolled_on)
    assert outcomes["graduation_rate_percent"] == round(100 / len(prog.enrolled_on), 2)
    income = outcomes["income"]
    changes = [1_500_000 - 800_000, 900_000 - 1_000_000, 0]
    assert income["households_surveyed_twice"] == 3
    assert income["mean_change_idr"] == round(sum(changes) / 3)
    assert (income["households_up"], income["households_down"], income["households_unchanged"]) == (
        1,
        1,
        1,
    )
    assert outcomes["deciles"]["improved"] == 1  # hh[0]: decile 1 -> 4


async def test_filters_and_bad_input(run: Run) -> None:
    all_idr = (await get(run, "/summary"))["idr_disbursed"]
    by_agency = [
        (await get(run, "/summary", agency=a))["idr_disbursed"]
        for a in ("dinsos", "dispar", "distakan", "dkukmpp")
    ]
    assert sum(by_agency) == all_idr
    district_a = await get(run, "/summary", district="62.09.01")
    district_b = await get(run, "/summary", district="62.09.03")
    regency = await get(run, "/summary", area="62.09")
    assert (
        district_a["households"]["registered"] + district_b["households"]["registered"]
        == regency["households"]["registered"]
        == len(run.programme.village) - 1
    )
    march = await get(run, "/summary", month="2026-03")
    capital_in_march = {
        data.grant_id
        for _, data in from_envelopes(run.programme.events)
        if isinstance(data, GrantIssuedV2)
        and data.kind == "capital"
        and data.issued_at.astimezone(JAKARTA).strftime("%Y-%m") == "2026-03"
        and data.grant_id != run.programme.voided_grant
    }
    assert march["interventions"]["grant-capital"] == len(capital_in_march) > 0
    for path, params, name in (
        ("/summary", {"colour": "red"}, "query.colour"),
        ("/summary", {"area": "99.99"}, "query.area"),
        ("/summary", {"district": "62.09"}, "query.district"),
        ("/summary", {"month": "2026-13"}, "query.month"),
        ("/summary", {"month": "March"}, "query.month"),
        ("/agencies", {"agency": "bappeda"}, "query.agency"),
        ("/double-funding", {"month": "2026-03"}, "query.month"),
        ("/double-funding", {"limit": "0"}, "query.limit"),
        ("/double-funding", {"after": "not a cursor"}, "query.after"),
        ("/double-funding", {"after": encode_cursor((2026, "62.09"))}, "query.after"),
        ("/double-funding", {"after": encode_cursor((2026, "", "not-a-uuid", "x"))}, "query.after"),
        ("/areas/62.99", {}, "path.code"),
        ("/unserved", {"days": "-3"}, "query.days"),
        ("/unserved", {"limit": "10001"}, "query.limit"),
        (
            "/unserved",
            {"after": encode_cursor(("62.09", "2026-13-01", str(uuid.UUID(int=1))))},
            "query.after",
        ),
        ("/exports/nothing.csv", {}, "path.view"),
    ):
        response = await run.http.get(path, params=params)
        assert response.status_code == 422, (path, params)
        assert response.headers["content-type"] == "application/problem+json"
        assert name in [e["field"] for e in response.json()["errors"]], response.text


async def test_public_summary_suppresses_small_counts(run: Run) -> None:
    prog = run.programme
    public = httpx.AsyncClient(transport=run.http._transport, base_url="http://test")
    async with public:
        regency = (await public.get("/public/summary", params={"area": "62.09"})).json()
        small_village = min(
            (c for c in set(prog.village.values()) if c.startswith("62.09.")),
            key=lambda c: Counter(prog.village.values())[c],
        )
        village = (await public.get("/public/summary", params={"area": small_village})).json()
        bad = await public.get("/public/summary", params={"area": "62.09", "agency": "dinsos"})
        refused = await public.get("/summary")
    registered = sum(1 for c in prog.village.values() if c.startswith("62.09."))
    assert regency["figures"]["households_registered"] == {"value": registered, "suppressed": False}
    assert Counter(prog.village.values())[small_village] < 5
    assert village["figures"]["households_registered"] == {"value": None, "suppressed": True}
    assert village["figures"]["idr_disbursed"]["suppressed"] is True
    assert bad.status_code == 422
    assert refused.status_code == 401


async def test_case_view_needs_its_role_and_lists_records_in_time_order(run: Run) -> None:
    household = run.programme.events[0].subject
    denied = await run.http.get(f"/households/{household}/case")
    assert denied.status_code == 403
    case = (
        await run.http.get(f"/households/{household}/case", headers=run.keys.bearer(run.case_key))
    ).json()
    days = [entry["on"] for entry in case["entries"]]
    assert days == sorted(days) and len(days) >= 5
    assert case["agencies"] == ["dinsos", "dispar", "distakan", "dkukmpp"]
    voided_owner = str(
        next(
            e.subject
            for e in run.programme.events
            if e.data.get("grant_id") == str(run.programme.voided_grant)
        )
    )
    other = (
        await run.http.get(
            f"/households/{voided_owner}/case", headers=run.keys.bearer(run.keys.admin)
        )
    ).json()
    assert str(run.programme.voided_grant) not in {e["record_id"] for e in other["entries"]}
    missing = await run.http.get(
        f"/households/{uuid.uuid4()}/case", headers=run.keys.bearer(run.case_key)
    )
    assert missing.status_code == 404


async def test_exports_parse_back_with_their_number_formats(run: Run) -> None:
    agencies = (await get(run, "/agencies"))["agencies"]
    csv_text = (await run.http.get("/exports/agencies.csv")).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [r["agency"] for r in rows] == [a["agency"] for a in agencies]
    assert [int(r["idr_disbursed"]) for r in rows] == [a["idr_disbursed"] for a in agencies]
    # The Indonesian spreadsheet dialect: ';' between fields, ',' for decimals.
    indonesian = await run.http.get("/exports/agencies.csv", params={"dialect": "id"})
    assert indonesian.status_code == 200
    text = indonesian.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    assert [r["agency"] for r in rows] == [a["agency"] for a in agencies]
    for row, agency in zip(rows, agencies, strict=True):
        assert int(row["idr_disbursed"]) == agency["idr_disbursed"]
        share = agency["realisation_percent"]
        if share is not None:
            assert "." not in row["realisation_percent"]
            assert float(row["realisation_percent"].replace(",", ".")) == pytest.approx(share)
    for bad in ({"dialect": "excel"}, {"dialect": "id", "delimiter": ";"}):
        refused = await run.http.get("/exports/agencies.csv", params=bad)
        assert refused.status_code == 422, (bad, refused.text)

    response = await run.http.get("/exports/agencies.xlsx")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header = [c.value for c in sheet[1]]
    idr = header.index("idr_disbursed") + 1
    reached = header.index("households_reached") + 1
    realisation = header.index("realisation_percent") + 1
    for n, agency in enumerate(agencies, start=2):
        assert sheet.cell(n, idr).value == agency["idr_disbursed"]
        assert sheet.cell(n, idr).number_format == RUPIAH_FORMAT
        assert sheet.cell(n, reached).number_format == COUNT_FORMAT
        if agency["realisation_percent"] is not None:
            assert sheet.cell(n, realisation).number_format == PERCENT_FORMAT
            assert sheet.cell(n, realisation).value == pytest.approx(
                agency["realisation_percent"] / 100
            )
    for view in (
        "summary",
        "timeseries",
        "convergence",
        "unserved",
        "double-funding",
        "outcomes",
        "data-quality",
    ):
        for fmt in ("csv", "xlsx"):
            assert (await run.http.get(f"/exports/{view}.{fmt}")).status_code == 200, view
    areas = await run.http.get("/exports/areas.xlsx", params={"area": "62.09"})
    book = openpyxl.load_workbook(io.BytesIO(areas.content)).active
    assert book.max_row == 1 + 1 + len(area_index().children("62.09"))


async def test_data_quality_shows_rejections_and_partitions(run: Run) -> None:
    quality = await get(run, "/data-quality")
    assert quality["rejected_total"] == 1
    assert quality["rejected_by_reason"][0]["reason"].startswith("invalid CloudEvents")
    assert quality["waiting_for_household"]["households"] == 0
    assert quality["partitions"] and all(p["lag"] == 0 for p in quality["partitions"])
    progress = await get(run, "/progress")
    assert progress["households_registered"] == len(run.programme.village)


async def test_reads_of_households_are_in_the_audit_trail_and_figures_are_not(run: Run) -> None:
    household = run.programme.events[0].subject
    admin = run.keys.bearer(run.keys.admin)
    case = await run.http.get(
        f"/households/{household}/case",
        headers={**run.keys.bearer(run.case_key), "X-Correlation-ID": "case-1"},
    )
    assert case.status_code == 200
    alerts = (await get(run, "/double-funding"))["alerts"]
    assert alerts, "the programme has double funding"
    export = await run.http.get("/exports/double-funding.csv")
    assert export.status_code == 200
    await get(run, "/summary")  # figures only: nothing personal, nothing recorded
    await run.http.get("/exports/summary.csv")

    refused = await run.http.get("/audit")
    assert refused.status_code == 403
    page = (await run.http.get("/audit", headers=admin)).json()
    # Newest first: this test's reads, then the fixture's own (the case of the household
    # waiting for its registration, read while the fixture checks it).
    records, fixture = page["records"][:3], page["records"][3:]
    assert [r["operation"] for r in records] == [
        "read:export:double-funding",
        "read:double-funding",
        "read:case",
    ]
    assert [(r["operation"], r["household_ids"]) for r in fixture] == [
        ("read:case", [str(run.programme.late_household)])
    ]
    reader = run.keys.reporting.split("_")[1]
    alerted = list(dict.fromkeys(a["household_id"] for a in alerts))
    assert records[0]["key_id"] == reader and records[0]["household_ids"] == alerted
    assert records[1]["household_ids"] == alerted
    assert records[2]["key_id"] == run.case_key.split("_")[1]
    assert records[2]["household_ids"] == [household]
    assert records[2]["correlation_id"] == "case-1"
