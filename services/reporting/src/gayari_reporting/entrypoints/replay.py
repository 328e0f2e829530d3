"""`gayari-reporting-replay`: rebuild every read model from the start of the topics.

    gayari-reporting-replay                      rebuild, switch over, drop the old generation
    gayari-reporting-replay --keep-previous      ... and keep the old one (to compare, or to
                                                 drop later with --drop)
    gayari-reporting-replay --as-of 2026-06-30T23:59:59+07:00
                                                 a period report: the read models as of then,
                                                 served by every view given `snapshot=<name>`
    gayari-reporting-replay --list               the generations and their state
    gayari-reporting-replay --drop NAME          drop a generation that is not active
    gayari-reporting-replay --check-tallies      compare the active generation's tallies with
                                                 a rebuild from its facts (exit 1 if they
                                                 differ: a replay rebuilds them)

The reporting service keeps serving (from the old generation) while a rebuild runs; its
projector follows the switch by itself. Settings are the service's (GAYARI_*, GAYARI_REPORTING_*).
Exit status: 0 done, 1 refused (another replay runs, unknown generation) or tallies that differ,
2 bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime

import asyncpg
from tqdm import tqdm

from gayari_reporting.adapters import tallies
from gayari_reporting.adapters.generations import Generations, UnknownGenerationError, use_active
from gayari_reporting.entrypoints.rebuild import RebuildResult, ReplayRunningError, rebuild
from gayari_reporting.settings import ReportingSettings
from gayari_shared.events.contracts import DOMAIN_STREAMS
from gayari_shared.heap import collect_less_often, freeze_startup_heap
from gayari_shared.logging import configure_logging
from gayari_shared.postgres import create_pool
from gayari_shared.settings import CommonSettings, ConfigurationError, load_settings

GRACE_S = 5.0  # readers that looked the old generation up just before the switch finish first


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-06-30T23:59:59+07:00")
    if moment > datetime.now(UTC):
        raise argparse.ArgumentTypeError("that moment has not come yet")
    return moment


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gayari-reporting-replay",
        description="Rebuild every read model from the start of the topics into a new "
        "generation and switch over atomically, or build an as-of period report.",
    )
    action = p.add_mutually_exclusive_group()
    action.add_argument("--as-of", type=_moment, metavar="TIMESTAMP", help="ISO 8601, with zone")
    action.add_argument("--list", action="store_true", help="list the generations")
    action.add_argument("--drop", metavar="NAME", help="drop a generation that is not active")
    action.add_argument(
        "--check-tallies",
        action="store_true",
        help="compare the active tallies with a rebuild from the facts (locks them meanwhile)",
    )
    p.add_argument("--keep-previous", action="store_true", help="keep the replaced generation")
    # Two processes with small batches: as fast as larger ones, in less memory, and faster
    # than one process with the projector's batches (docs/performance.md, "Measurements
    # behind the defaults"). Memory goes with the batch size (decoded records in flight), not
    # with the programme's; the bulk keeps no tallies, so small batches cost it nothing.
    p.add_argument("--batch", type=int, default=2_500, help="records per batch (default 2500)")
    p.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes sharing the partitions (default 2, or 1 on one core; each adds about "
        "100 MB)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


async def _run(
    args: argparse.Namespace, common: CommonSettings, settings: ReportingSettings
) -> int:
    pool = await create_pool(settings.database(), max_size=4)
    freeze_startup_heap()  # as the service does
    collect_less_often()
    try:
        generations = Generations(pool)
        if args.list:
            await generations.prepare()
            for g in await generations.all():
                as_of = f" as of {g.as_of.isoformat()}" if g.as_of else ""
                print(f"{g.schema:48} {g.kind:6} {g.state:9} {g.events:>12,} events{as_of}")
            return 0
        if args.check_tallies:
            await generations.prepare()
            return await _check_tallies(pool)
        if args.drop:
            await generations.drop(args.drop)
            print(f"dropped {args.drop}")
            return 0
        await generations.prepare()
        result = await _rebuild(args, common, settings)
        if result.replaced is not None and not args.keep_previous:
            await asyncio.sleep(GRACE_S)
            await generations.drop(result.replaced)
        rate = result.events / result.seconds if result.seconds else 0.0
        what = "as-of report" if args.as_of else "active read models"
        print(
            f"{result.generation}: {what}, {result.events:,} events in {result.seconds:.1f} s "
            f"({rate:,.0f}/s)"
            + (f"; replaced {result.replaced}" if result.replaced else "")
            + (" (kept)" if result.replaced and args.keep_previous else "")
        )
        return 0
    except (UnknownGenerationError, ReplayRunningError) as exc:
        print(f"gayari-reporting-replay: {exc}", file=sys.stderr)
        return 1
    finally:
        await pool.close()


async def _check_tallies(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn, conn.transaction():
        schema = await use_active(conn)
        differing = await tallies.drift(conn)
    for table, rows in differing.items():
        print(f"{schema} {table}: {rows} rows differ from the facts")
    return 1 if any(differing.values()) else 0


async def _rebuild(
    args: argparse.Namespace,
    common: CommonSettings,
    settings: ReportingSettings,
) -> RebuildResult:
    bar = tqdm(
        total=0,
        unit="ev",
        unit_scale=True,
        desc="as-of rebuild" if args.as_of else "rebuild",
        disable=args.no_progress,
        file=sys.stderr,
        mininterval=0.5,
    )

    def progress(read: int, total: int) -> None:
        bar.total = total
        bar.update(read - bar.n)

    try:
        return await rebuild(
            database=settings.database(),
            kafka=common.kafka_connection(),
            topics=[common.topic(stream) for stream in DOMAIN_STREAMS],
            group_id=settings.consumer_group,
            as_of=args.as_of,
            max_records=args.batch,
            workers=args.workers,
            progress=progress,
        )
    finally:
        bar.close()


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        common = load_settings(CommonSettings)
        settings = load_settings(ReportingSettings)
        common.kafka_connection(), settings.database()  # credentials: checked before anything
    except ConfigurationError as exc:
        print(f"gayari-reporting-replay: invalid configuration: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging("reporting-replay", "WARNING", common.log_json)
    sys.exit(asyncio.run(_run(args, common, settings)))


if __name__ == "__main__":
    main()
