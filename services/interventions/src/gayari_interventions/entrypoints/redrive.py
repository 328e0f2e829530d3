"""`gayari-interventions-redrive`: send an agency's dead-lettered intake records back to its
intake topic once the cause is fixed (a household registered since, a budget recorded, ...).

It reads the dead-letter topic from its start up to where it ends when the command starts (no
consumer group: it commits nothing and changes no one's position), picks that agency's intake
dead letters (optionally of one reason and refused in a time range) and republishes each
record's key, value and original headers, as first sent, to the agency's intake topic.
Idempotent: the intake takes a `ce_id` once per agency, so a record redriven twice, or redriven
after the agency sent it again, is recorded once; the same record dead-lettered twice is sent
once per run. One that is still wrong is refused again, and dead-lettered again.

An operator's command: it reads the dead letters and writes an agency's intake topic, rights no
service or agency principal has (GAYARI_KAFKA_SASL_USERNAME: an operator's principal with them;
on the local stack `admin`, .cache/credentials/kafka/admin/gayari.env).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from tqdm import tqdm

from gayari_interventions.domain.redrive import RedriveSelection
from gayari_shared.kafka.clients import idempotent_producer
from gayari_shared.kafka.connection import KafkaConnection
from gayari_shared.kafka.deadletter import DeadLetter
from gayari_shared.logging import configure_logging
from gayari_shared.settings import CommonSettings, ConfigurationError, load_settings


@dataclass
class RedriveResult:
    scanned: int = 0  # dead letters read
    selected: int = 0  # of the agency, reason and range asked for
    distinct: int = 0  # distinct records among them (one may be dead-lettered twice)
    sent: int = 0  # republished


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-12-01T00:00:00+07:00")
    return moment


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gayari-interventions-redrive",
        description="Republish an agency's dead-lettered intake records to its intake topic, "
        "after the cause is fixed. Safe to run again: a record is taken once.",
    )
    p.add_argument("--agency", required=True, help="the agency code, e.g. distakan")
    p.add_argument("--reason", help="only dead letters of this reason code, e.g. rule-violation")
    p.add_argument("--since", type=_moment, help="refused at or after (ISO 8601, with zone)")
    p.add_argument("--until", type=_moment, help="refused before (ISO 8601, with zone)")
    p.add_argument("--dry-run", action="store_true", help="count and list, send nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


async def _partitions(kafka: KafkaConnection, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for p in description["partitions"])


async def _read_to_end(
    consumer: AIOKafkaConsumer,
    kafka: KafkaConnection,
    topic: str,
    progress: Callable[[int, int], None],
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` from its start up to its end as of now."""
    assigned = [TopicPartition(topic, p) for p in await _partitions(kafka, topic)]
    if not assigned:
        return
    consumer.assign(assigned)
    starts = await consumer.beginning_offsets(assigned)
    ends = await consumer.end_offsets(assigned)
    for tp in assigned:
        consumer.seek(tp, starts[tp])
    total = sum(ends[tp] - starts[tp] for tp in assigned)
    done = 0
    progress(done, total)
    pending = {tp for tp in assigned if ends[tp] > starts[tp]}
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=500)
        for tp, records in batches.items():
            for record in records:
                if record.offset < ends[tp]:
                    done += 1
                    yield record
        progress(done, total)
        pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}


async def redrive(
    kafka: KafkaConnection,
    deadletter_topic: str,
    selection: RedriveSelection,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] = lambda done, total: None,
    listed: Callable[[DeadLetter], None] = lambda letter: None,
) -> RedriveResult:
    """Reads `deadletter_topic` up to its end as of now and republishes the selected records."""
    result = RedriveResult()
    consumer = AIOKafkaConsumer(**kafka.client_options(), enable_auto_commit=False, group_id=None)
    producer = idempotent_producer(kafka, "interventions-redrive")
    await consumer.start()
    await producer.start()
    try:
        seen: set[str] = set()  # ce_ids sent in this run (all of one intake topic)
        async for record in _read_to_end(consumer, kafka, deadletter_topic, progress):
            result.scanned += 1
            letter = DeadLetter.of(record.headers)
            if letter is None or not selection.matches(letter):
                continue
            result.selected += 1
            ce_id = letter.header("ce_id") or f"no ce_id: dead letter at {record.offset}"
            if ce_id in seen:
                continue
            seen.add(ce_id)
            result.distinct += 1
            listed(letter)
            if not dry_run:
                await producer.send_and_wait(
                    letter.source_topic,
                    value=record.value,
                    key=record.key,
                    headers=letter.original_headers,
                )
                result.sent += 1
    finally:
        await consumer.stop()
        await producer.stop()
    return result


async def run(args: argparse.Namespace, common: CommonSettings) -> int:
    if args.agency not in {agency.code for agency in common.agencies}:
        print(f"gayari-interventions-redrive: unknown agency {args.agency!r}", file=sys.stderr)
        return 2
    selection = RedriveSelection(
        intake_topic=common.intake_topic(args.agency),
        reason=args.reason,
        since=args.since,
        until=args.until,
    )
    bar = tqdm(
        total=0,
        unit="letter",
        desc="dry run" if args.dry_run else "redrive",
        disable=args.no_progress,
        file=sys.stderr,
        mininterval=0.5,
    )

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    def listed(letter: DeadLetter) -> None:
        if args.dry_run:
            bar.write(f"{letter.header('ce_id')}  {letter.refused_at}  {letter.reason}")

    try:
        result = await redrive(
            common.kafka_connection(),
            common.deadletter_topic,
            selection,
            dry_run=args.dry_run,
            progress=progress,
            listed=listed,
        )
    finally:
        bar.close()
    print(
        f"{result.scanned} dead letters read, {result.selected} of {args.agency} selected "
        f"({result.distinct} distinct records), "
        + ("none sent (dry run)" if args.dry_run else f"{result.sent} sent")
        + f" to {selection.intake_topic}"
    )
    return 0


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        common = load_settings(CommonSettings)
        common.kafka_connection()  # credentials: checked before anything
    except ConfigurationError as exc:
        print(f"gayari-interventions-redrive: invalid configuration: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging("interventions-redrive", "WARNING", common.log_json)
    sys.exit(asyncio.run(run(args, common)))


if __name__ == "__main__":
    main()
