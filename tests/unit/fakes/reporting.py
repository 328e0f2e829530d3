"""Reporting's read models in memory (service_layer.queries): a few households and records,
each report counted from them in plain Python, with the read models' rules (a voided record
counts nowhere; a household is placed by its current village; a period is the day's fiscal
year and month). The SQL, its tallies and their agreement with the facts are the integration
tests' to prove (test_reporting_tallies.py, test_reporting_read_models.py)."""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final

from gayari_reporting.domain.areas import Area, contains
from gayari_reporting.domain.batch import BatchWrites
from gayari_reporting.domain.consumed import PartitionKey
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.privacy import PublicCounts
from gayari_reporting.domain.readmodels import (
    KINDS,
    AgencyFigures,
    AlertKey,
    AreaFigures,
    CaseEntry,
    CaseHousehold,
    DecileMove,
    DoubleFundingAlert,
    HouseholdCounts,
    IncomeChange,
    IntakeRefusals,
    MonthFigures,
    ReasonCount,
    UnservedHousehold,
    UnservedKey,
    WaitingRecords,
)

# The record type of each kind (the events' intervention types); surveys serve nobody.
RECORD_TYPE: Final = {
    "grant-capital": "grant",
    "grant-equipment": "grant",
    "training": "training-completion",
    "mentoring": "mentoring-visit",
    "survey": "business-survey",
}


@dataclass
class Household:
    id: uuid.UUID
    village_code: str | None
    registered_on: date | None = None
    enrolled_on: date | None = None
    exited_on: date | None = None
    exit_reason: str | None = None
    initial_decile: int | None = None
    welfare_decile: int | None = None
    cohort_year: int | None = None


@dataclass
class Record:
    household_id: uuid.UUID
    agency: str
    kind: str  # one of KINDS, or "survey"
    on: date
    amount_idr: int = 0
    fiscal_year: int | None = None  # a grant's; else (and by default) the day's year
    income_idr: int = 0  # a survey's
    voided: bool = False
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def year(self) -> int:
        return self.fiscal_year or self.on.year


@dataclass
class ReadModel:
    """One generation's facts: the live read model, or an as-of report's."""

    households: dict[uuid.UUID, Household] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    budgets: list[tuple[str, int, int]] = field(default_factory=list)  # agency, year, Rupiah
    rejected: list[str] = field(default_factory=list)  # each refused event's reason
    projected_at: datetime | None = None

    def add(self, *facts: Household | Record) -> None:
        for fact in facts:
            if isinstance(fact, Household):
                self.households[fact.id] = fact
            else:
                self.records.append(fact)

    def village_of(self, household_id: uuid.UUID) -> str | None:
        held = self.households.get(household_id)
        return held.village_code if held else None

    def in_areas(self, village: str | None, areas: Sequence[str]) -> bool:
        return not areas or (village is not None and all(contains(a, village) for a in areas))

    def live(self, filters: Filters, *, agency: bool = True) -> list[Record]:
        """The records that count in the filters' scope (no surveys)."""
        return [
            r
            for r in self.records
            if r.kind in KINDS
            and not r.voided
            and (not agency or filters.agency is None or r.agency == filters.agency)
            and self.in_areas(self.village_of(r.household_id), filters.areas)
            and (filters.fiscal_year is None or r.year == filters.fiscal_year)
            and in_month(r.on, filters.month)
        ]

    def scoped(self, filters: Filters) -> list[Household]:
        return [h for h in self.households.values() if self.in_areas(h.village_code, filters.areas)]


def in_month(day: date, month: date | None) -> bool:
    return month is None or (day.year, day.month) == (month.year, month.month)


def in_period(day: date | None, filters: Filters) -> bool:
    return (
        day is not None
        and (filters.fiscal_year is None or day.year == filters.fiscal_year)
        and in_month(day, filters.month)
    )


def household_counts(households: Iterable[Household], filters: Filters) -> HouseholdCounts:
    listed = list(households)
    return HouseholdCounts(
        registered=sum(in_period(h.registered_on, filters) for h in listed),
        enrolled=sum(in_period(h.enrolled_on, filters) for h in listed),
        exited=sum(in_period(h.exited_on, filters) for h in listed),
        graduated=sum(
            in_period(h.exited_on, filters) and h.exit_reason == "graduated" for h in listed
        ),
    )


def agencies_reaching(records: Iterable[Record]) -> dict[uuid.UUID, set[str]]:
    reached: dict[uuid.UUID, set[str]] = {}
    for r in records:
        reached.setdefault(r.household_id, set()).add(r.agency)
    return reached


class FakeReadModels:
    """ReadModelQueries over `live` (and `snapshots`, the as-of reports by name); the queries
    asked are kept in `asked`, so a test can tell which ones a use case ran."""

    def __init__(self) -> None:
        self.live = ReadModel()
        self.snapshots: dict[str, ReadModel] = {}
        self.refusals = IntakeRefusals(total=0, by_agency_and_reason=[], by_day=[])
        self.asked: list[tuple[str, Filters | None]] = []

    def _model(self, name: str, filters: Filters | None) -> ReadModel:
        self.asked.append((name, filters))
        snapshot = filters.snapshot if filters is not None else None
        return self.live if snapshot is None else self.snapshots[snapshot]

    async def summary(
        self, filters: Filters
    ) -> tuple[HouseholdCounts, dict[str, int], int, datetime | None]:
        m = self._model("summary", filters)
        live = m.live(filters)
        counts = household_counts(m.scoped(filters), filters)
        kinds = {**dict.fromkeys(KINDS, 0), **Counter(r.kind for r in live)}
        reached = len({r.household_id for r in live})
        return (
            counts.model_copy(update={"reached": reached}),
            kinds,
            sum(r.amount_idr for r in live),
            m.projected_at,
        )

    async def agencies(self, filters: Filters) -> tuple[dict[str, AgencyFigures], dict[str, int]]:
        m = self._model("agencies", filters)
        figures: dict[str, AgencyFigures] = {}
        for agency in sorted({r.agency for r in m.live(filters)}):
            own = [r for r in m.live(filters) if r.agency == agency]
            kinds = Counter(r.kind for r in own)
            figures[agency] = AgencyFigures(
                agency=agency,
                name=agency,
                households_reached=len({r.household_id for r in own}),
                grants_capital=kinds["grant-capital"],
                grants_equipment=kinds["grant-equipment"],
                idr_disbursed=sum(r.amount_idr for r in own),
                trainings_completed=kinds["training"],
                mentoring_visits=kinds["mentoring"],
            )
        year = filters.fiscal_year or (filters.month.year if filters.month else None)
        budgets: Counter[str] = Counter()
        for agency, fiscal_year, idr in m.budgets:
            if (year is None or fiscal_year == year) and filters.agency in (None, agency):
                budgets[agency] += idr
        return figures, dict(budgets)

    async def areas(
        self, area: Area, child_length: int, filters: Filters
    ) -> dict[str, AreaFigures]:
        m = self._model("areas", filters)
        scoped = Filters(
            filters.agency, (area.code,) if area.code else (), filters.fiscal_year, filters.month
        )
        by_code: dict[str, dict[str, int]] = {}
        for code, households in _grouped(m.scoped(scoped), child_length):
            counts = household_counts(households, scoped)
            if any(counts.model_dump().values()):
                by_code[code] = {f"households_{k}": v for k, v in counts.model_dump().items()}
        records: dict[str, list[Record]] = {}
        for r in m.live(scoped):
            village = m.village_of(r.household_id)
            if village is not None:
                records.setdefault(village[:child_length], []).append(r)
        for code, own in records.items():
            by_code.setdefault(code, {}).update(
                households_reached=len({r.household_id for r in own}),
                interventions=len(own),
                idr_disbursed=sum(r.amount_idr for r in own),
                trainings_completed=sum(r.kind == "training" for r in own),
            )
        return {
            code: AreaFigures(code=code, name=code, level="village", **values)
            for code, values in by_code.items()
        }

    async def time_series(self, filters: Filters) -> list[MonthFigures]:
        m = self._model("time_series", filters)
        months: dict[str, Counter[str]] = {}

        def add(day: date | None, figure: str, n: int = 1) -> None:
            if in_period(day, filters):
                assert day is not None
                months.setdefault(day.strftime("%Y-%m"), Counter())[figure] += n

        for h in m.scoped(filters):
            add(h.registered_on, "households_registered")
            add(h.enrolled_on, "households_enrolled")
            add(h.exited_on, "households_exited")
            if h.exit_reason == "graduated":
                add(h.exited_on, "households_graduated")
        reached: set[tuple[str, uuid.UUID]] = set()
        for r in m.live(filters):
            month = r.on.strftime("%Y-%m")
            if (month, r.household_id) not in reached:
                reached.add((month, r.household_id))
                add(r.on, "households_reached")
            add(r.on, "grants", r.kind.startswith("grant-"))
            add(r.on, "idr_disbursed", r.amount_idr)
            add(r.on, "trainings_completed", r.kind == "training")
            add(r.on, "mentoring_visits", r.kind == "mentoring")
        return [MonthFigures(month=month, **months[month]) for month in sorted(months)]

    async def convergence(self, filters: Filters) -> tuple[dict[int, int], dict[int, int], int]:
        m = self._model("convergence", filters)
        reached: Counter[int] = Counter()
        enrolled_reached: Counter[int] = Counter()
        for household_id, agencies in agencies_reaching(m.live(filters, agency=False)).items():
            if filters.agency is not None and filters.agency not in agencies:
                continue
            reached[len(agencies)] += 1
            held = m.households.get(household_id)
            if held is not None and held.enrolled_on is not None:
                enrolled_reached[len(agencies)] += 1
        if filters.agency is not None:
            enrolled = sum(enrolled_reached.values())
        else:
            enrolled = sum(h.enrolled_on is not None for h in m.scoped(filters))
        return dict(reached), dict(enrolled_reached), enrolled

    async def unserved(
        self,
        filters: Filters,
        days: int,
        as_of: date,
        limit: int | None = None,
        after: UnservedKey | None = None,
    ) -> tuple[list[tuple[str | None, UnservedHousehold]], int]:
        m = self._model("unserved", filters)
        cutoff = as_of - timedelta(days=days)
        records = m.live(Filters(filters.agency, filters.areas))
        rows: list[tuple[UnservedKey, UnservedHousehold]] = []
        for h in m.scoped(filters):
            if h.enrolled_on is None or h.exited_on is not None:
                continue
            days_reached = [r.on for r in records if r.household_id == h.id and r.on <= as_of]
            last = max(days_reached, default=h.enrolled_on)
            if last < cutoff:
                key = (h.village_code or "", last, h.id)
                unserved = UnservedHousehold(
                    household_id=h.id, last_contact=last, days_without=(as_of - last).days
                )
                rows.append((key, unserved))
        rows.sort(key=lambda row: row[0])
        page = [(k[0] or None, u) for k, u in rows if after is None or k > after][:limit]
        return page, len(rows)

    async def double_funding(
        self, filters: Filters, limit: int | None = None, after: AlertKey | None = None
    ) -> tuple[list[DoubleFundingAlert], int]:
        m = self._model("double_funding", filters)
        groups: dict[AlertKey, list[Record]] = {}
        for r in m.live(filters, agency=False):
            if r.kind.startswith("grant-"):
                key = (r.year, m.village_of(r.household_id) or "", r.household_id, r.kind[6:])
                groups.setdefault(key, []).append(r)
        alerts = []
        for key, grants in sorted(groups.items()):
            agencies = sorted({g.agency for g in grants})
            if len(agencies) < 2 or filters.agency not in (None, *agencies):
                continue
            alerts.append(
                (
                    key,
                    DoubleFundingAlert(
                        household_id=key[2],
                        village_code=key[1] or None,
                        fiscal_year=key[0],
                        kind=key[3],
                        agencies=agencies,
                        grants=len(grants),
                        total_idr=sum(g.amount_idr for g in grants),
                        grant_ids=sorted(g.id for g in grants),
                    ),
                )
            )
        page = [a for k, a in alerts if after is None or k > after][:limit]
        return page, len(alerts)

    async def outcomes(
        self, filters: Filters
    ) -> tuple[int, dict[str, int], IncomeChange, list[DecileMove]]:
        m = self._model("outcomes", filters)
        households = m.scoped(filters)
        enrolled = [h for h in households if h.enrolled_on is not None]
        exits = Counter(h.exit_reason for h in households if h.exit_reason is not None)
        moves = Counter(
            (h.initial_decile, h.welfare_decile)
            for h in enrolled
            if h.initial_decile is not None and h.welfare_decile is not None
        )
        return (
            len(enrolled),
            dict(exits),
            _income_change(m, {h.id for h in households}),
            [DecileMove(from_decile=a, to_decile=b, households=n) for (a, b), n in moves.items()],
        )

    async def data_quality(self) -> tuple[list[ReasonCount], WaitingRecords]:
        m = self._model("data_quality", None)
        reasons = sorted(Counter(m.rejected).items(), key=lambda rn: (-rn[1], rn[0]))
        registered = {h.id for h in m.households.values() if h.registered_on is not None}
        waiting = [r for r in m.records if not r.voided and r.household_id not in registered]
        return (
            [ReasonCount(reason=reason, events=n) for reason, n in reasons],
            WaitingRecords(
                households=len({r.household_id for r in waiting}),
                records=len(waiting),
                by_type=dict(Counter(RECORD_TYPE[r.kind] for r in waiting)),
            ),
        )

    async def intake_refusals(self) -> IntakeRefusals:
        self.asked.append(("intake_refusals", None))
        return self.refusals

    async def public_counts(self, filters: Filters) -> PublicCounts:
        m = self._model("public_counts", filters)
        counts = household_counts(m.scoped(filters), filters)
        live = m.live(filters)
        reached = agencies_reaching(live)
        several = {h for h, agencies in reached.items() if len(agencies) >= 2}
        return PublicCounts(
            registered=counts.registered,
            enrolled=sum(h.enrolled_on is not None for h in m.scoped(filters)),
            graduated=counts.graduated,
            reached=len(reached),
            reached_by_two_or_more=len(several),
            enrolled_reached_by_two_or_more=sum(
                h in m.households and m.households[h].enrolled_on is not None for h in several
            ),
            households_with_grants=len(
                {r.household_id for r in live if r.kind.startswith("grant-")}
            ),
            idr_disbursed=sum(r.amount_idr for r in live),
        )

    async def case(
        self, household_id: uuid.UUID
    ) -> tuple[CaseHousehold | None, list[CaseEntry]] | None:
        m = self._model("case", None)
        held = m.households.get(household_id)
        entries = sorted(
            (
                CaseEntry(
                    on=r.on,
                    record_type=RECORD_TYPE[r.kind],
                    record_id=r.id,
                    agency=r.agency,
                    kind=r.kind,
                    amount_idr=r.amount_idr if r.kind.startswith("grant-") else None,
                )
                for r in m.records
                if r.household_id == household_id and not r.voided
            ),
            key=lambda e: (e.on, e.record_type, str(e.record_id)),
        )
        if held is None and not entries:
            return None
        household = None
        if held is not None:
            household = CaseHousehold(
                registered=held.registered_on is not None,
                village_code=held.village_code,
                village_name=None,
                welfare_decile=held.welfare_decile,
                initial_welfare_decile=held.initial_decile,
                enrolled_on=held.enrolled_on,
                cohort_year=held.cohort_year,
                exited_on=held.exited_on,
                exit_reason=held.exit_reason,
            )
        return household, entries


def _grouped(households: Iterable[Household], length: int) -> list[tuple[str, list[Household]]]:
    groups: dict[str, list[Household]] = {}
    for h in households:
        if h.village_code is not None:
            groups.setdefault(h.village_code[:length], []).append(h)
    return sorted(groups.items())


def _income_change(m: ReadModel, households: set[uuid.UUID]) -> IncomeChange:
    """First and latest survey income of each household surveyed twice or more."""
    surveys: dict[uuid.UUID, list[Record]] = {}
    for r in m.records:
        if r.kind == "survey" and not r.voided and r.household_id in households:
            surveys.setdefault(r.household_id, []).append(r)
    pairs = [
        (first.income_idr, latest.income_idr)
        for listed in surveys.values()
        if len(listed) >= 2
        for first, latest in [(min(listed, key=_when), max(listed, key=_when))]
    ]
    changes = [b - a for a, b in pairs]

    def mean(values: list[int]) -> int | None:
        return round(statistics.mean(values)) if values else None

    return IncomeChange(
        households_surveyed_twice=len(pairs),
        mean_first_income_idr=mean([a for a, _ in pairs]),
        mean_latest_income_idr=mean([b for _, b in pairs]),
        mean_change_idr=mean(changes),
        median_change_idr=round(statistics.median(changes)) if changes else None,
        households_up=sum(c > 0 for c in changes),
        households_down=sum(c < 0 for c in changes),
        households_unchanged=sum(c == 0 for c in changes),
    )


def _when(r: Record) -> tuple[date, str]:
    return (r.on, str(r.id))


# -- the data-quality report's other two sources --------------------------------------------


@dataclass
class FakePositions:
    """StoredPositions: the next offset stored per (group, topic, partition)."""

    stored: dict[tuple[str, str, int], int] = field(default_factory=dict)

    async def stored_positions(self, group: str) -> dict[PartitionKey, int]:
        return {(t, p): n for (g, t, p), n in self.stored.items() if g == group}


@dataclass
class FakeProjector:
    """ProjectorStatus: (topic, partition, position, highwater) of the partitions assigned."""

    group_id: str = "gayari-reporting"
    projected_total: int = 0
    assigned: list[tuple[str, int, int | None, int | None]] = field(default_factory=list)

    async def partition_positions(self) -> list[tuple[str, int, int | None, int | None]]:
        return list(self.assigned)


# -- the write side's store (service_layer.projection.BatchStore) ----------------------------

Rejection = tuple[str, int, int, str]


@dataclass
class Stored:
    """What the batches committed: offsets per (group, topic, partition), the facts by record
    key (the folded rows, as BatchWrites keys them), refused records, and the tally: each
    household's share (its live grants' Rupiah by agency), as contribute computed it."""

    offsets: dict[tuple[str, str, int], int] = field(default_factory=dict)
    grants: dict[uuid.UUID, tuple[uuid.UUID, str, int]] = field(default_factory=dict)
    voided: set[tuple[str, uuid.UUID]] = field(default_factory=set)
    states: set[uuid.UUID] = field(default_factory=set)
    rejected: list[Rejection] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)  # Rupiah by agency
    shares: dict[uuid.UUID, Counter[str]] = field(default_factory=dict)  # each household's part
    surveyed: set[uuid.UUID] = field(default_factory=set)  # incomes refreshed


class FakeBatchTransaction:
    """One batch's transaction over a copy of the store's state (committed when it ends).
    Each stage is listed in `calls`; the stage named `fail_at` raises, as a dropped
    connection would."""

    def __init__(self, state: Stored, calls: list[str], fail_at: str | None) -> None:
        self.state = state
        self._calls = calls
        self._fail_at = fail_at

    def _stage(self, name: str) -> None:
        self._calls.append(name)
        if name == self._fail_at:
            raise ConnectionError(f"the connection dropped in {name}")

    async def lock_offsets(
        self, group: str, keys: Sequence[PartitionKey]
    ) -> dict[PartitionKey, int]:
        self._stage("lock_offsets")
        return {k: self.state.offsets.get((group, *k), 0) for k in keys}

    async def serialise_households(self, group: str, partitions: Iterable[int]) -> None:
        self._stage("serialise_households")

    async def voided_households(self, writes: BatchWrites) -> set[uuid.UUID]:
        """The households of the stored grants this batch voids (a void names no household)."""
        self._stage("voided_households")
        return {
            self.state.grants[v.intervention_id][0]
            for v in writes.voids.values()
            if v.intervention_type == "grant" and v.intervention_id in self.state.grants
        }

    async def retract(self, households: Iterable[uuid.UUID], agencies: Iterable[str]) -> None:
        self._stage("retract")
        for household in households:
            self.state.tally -= self.state.shares.pop(household, Counter())

    async def write(self, writes: BatchWrites, rejected: Sequence[Rejection]) -> None:
        self._stage("write")
        for grant in writes.grants.values():
            self.state.grants.setdefault(
                grant.grant_id, (grant.household_id, grant.agency, grant.amount_idr)
            )
        self.state.voided.update(
            (v.intervention_type, v.intervention_id) for v in writes.voids.values()
        )
        self.state.states.update(writes.states)
        self.state.rejected.extend(rejected)

    async def contribute(self, households: Iterable[uuid.UUID]) -> None:
        """Each household's share computed afresh from the stored facts."""
        self._stage("contribute")
        for household in households:
            share: Counter[str] = Counter()
            for grant_id, (owner, agency, idr) in self.state.grants.items():
                if owner == household and ("grant", grant_id) not in self.state.voided:
                    share[agency] += idr
            self.state.shares[household] = share
            self.state.tally += share

    async def refresh_incomes(self, households: Iterable[uuid.UUID]) -> None:
        self._stage("refresh_incomes")
        self.state.surveyed.update(households)

    async def advance_offsets(self, group: str, advanced: Sequence[tuple[str, int, int]]) -> None:
        self._stage("advance_offsets")
        for topic, partition, offset in advanced:
            self.state.offsets[(group, topic, partition)] = offset


class FakeBatchStore:
    """BatchStore: a transaction's changes are kept when its block ends, none if it raises."""

    def __init__(self) -> None:
        self.state = Stored()
        self.calls: list[str] = []  # the stages run, in order, every transaction's
        self.fail_at: str | None = None
        self.opened: list[tuple[str | None, bool]] = []  # (schema, building) of each
        self.committed = 0

    @asynccontextmanager
    async def transaction(
        self, schema: str | None = None, *, building: bool = False
    ) -> AsyncIterator[FakeBatchTransaction]:
        self.opened.append((schema, building))
        working = _copy(self.state)
        yield FakeBatchTransaction(working, self.calls, self.fail_at)
        self.state = working
        self.committed += 1


def _copy(state: Stored) -> Stored:
    return Stored(
        offsets=dict(state.offsets),
        grants=dict(state.grants),
        voided=set(state.voided),
        states=set(state.states),
        rejected=list(state.rejected),
        tally=Counter(state.tally),
        shares={h: Counter(s) for h, s in state.shares.items()},
        surveyed=set(state.surveyed),
    )
