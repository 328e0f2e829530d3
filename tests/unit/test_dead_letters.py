"""Dead letters read back: the headers say who refused which record, why and when; reporting
counts the intake's refusals only, and a redrive picks one agency's, by reason and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gayari_interventions.domain.redrive import RedriveSelection
from gayari_reporting.domain.refusals import refusal_of
from gayari_shared.kafka.deadletter import DeadLetter, Rejection, dead_letter_headers

AT = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
ORIGINAL = [("ce_id", b"6f0c"), ("ce_type", b"gayari.intake.grant.v1")]


def letter_headers(
    topic: str = "gayari.intake.distakan",
    consumer: str = "interventions-intake",
    reason: str = "rule-violation: household unknown",
) -> list[tuple[str, bytes]]:
    rejection = Rejection(topic, 3, 41, b"k", b"{}", [*ORIGINAL, ("dlq-reason", b"old")], reason)
    return dead_letter_headers(rejection, consumer)


def test_a_dead_letter_keeps_the_original_headers_and_says_why() -> None:
    letter = DeadLetter.of(letter_headers())
    assert letter is not None
    assert letter.original_headers == ORIGINAL  # an earlier refusal's headers are not kept
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "gayari.intake.distakan",
        3,
        41,
    )
    assert letter.reason_code == "rule-violation" and letter.header("ce_id") == "6f0c"
    assert letter.refused_at is not None and letter.refused_at.tzinfo is not None
    assert DeadLetter.of(ORIGINAL) is None


def test_reporting_counts_intake_refusals_only() -> None:
    refusal = refusal_of(letter_headers(), "gayari", AT)
    assert refusal is not None
    assert (refusal.agency, refusal.reason_code, refusal.event_id) == (
        "distakan",
        "rule-violation",
        "6f0c",
    )
    assert refusal_of(letter_headers(consumer="reporting"), "gayari", AT) is None
    assert refusal_of(letter_headers(topic="gayari.households"), "gayari", AT) is None
    assert refusal_of([("junk", b"1")], "gayari", AT) is None


@pytest.mark.parametrize(
    ("selection", "picked"),
    [
        (RedriveSelection("gayari.intake.distakan"), True),
        (RedriveSelection("gayari.intake.dispar"), False),
        (RedriveSelection("gayari.intake.distakan", reason="rule-violation"), True),
        (RedriveSelection("gayari.intake.distakan", reason="invalid-data"), False),
        (RedriveSelection("gayari.intake.distakan", since=datetime.now(UTC) - timedelta(1)), True),
        (RedriveSelection("gayari.intake.distakan", until=datetime.now(UTC) - timedelta(1)), False),
    ],
)
def test_a_redrive_picks_one_agencys_letters_by_reason_and_time(
    selection: RedriveSelection, picked: bool
) -> None:
    letter = DeadLetter.of(letter_headers())
    assert letter is not None
    assert selection.matches(letter) is picked
    other = DeadLetter.of(letter_headers(consumer="gayari-interventions"))
    assert other is not None and not selection.matches(other)
