"""The intake contract: what an agency's own system may publish on its intake topic, and the
checks every message passes before it becomes a canonical event. Pure: no I/O.

A message is a CloudEvent in Kafka binary mode, keyed by household id, published on
`<prefix>.intake.<agency>`; its `ce_source` is `/gayari/agencies/<agency>` and its data names the
same agency. The data is the same body the HTTP API takes, plus `agency`. See docs/intake.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, ClassVar, Final

from pydantic import Field, StringConstraints, ValidationError

from gayari_interventions.domain.grants import GrantRequest
from gayari_interventions.domain.monitoring import BusinessSurveyRequest, MentoringVisitRequest
from gayari_interventions.domain.voids import VoidRequest
from gayari_shared.events.base import AGENCY_CODE_PATTERN
from gayari_shared.events.envelope import Envelope
from gayari_shared.inputs import single_line

AgencyCode = Annotated[str, StringConstraints(pattern=AGENCY_CODE_PATTERN)]


class IntakeRejectedError(ValueError):
    """A message that cannot be taken; `code` is stable (metrics, dead-letter headers)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class IntakeRejectionRecord:
    """A refused intake record, counted once per source record (topic, partition, offset)."""

    agency: str
    topic: str
    partition: int
    offset: int
    event_id: str | None
    code: str
    reason: str


class IntakeGrantV1(GrantRequest):
    TYPE: ClassVar[str] = "gayari.intake.grant.v1"
    agency: AgencyCode


class IntakeMentoringVisitV1(MentoringVisitRequest):
    TYPE: ClassVar[str] = "gayari.intake.mentoring-visit.v1"
    agency: AgencyCode


class IntakeBusinessSurveyV1(BusinessSurveyRequest):
    TYPE: ClassVar[str] = "gayari.intake.business-survey.v1"
    agency: AgencyCode


class IntakeVoidV1(VoidRequest):
    """Voids one of the agency's records, by the `ce_id` it was sent with (`external_id`) or by
    its id; keyed, like the record, by its household, so that it follows the record."""

    TYPE: ClassVar[str] = "gayari.intake.void.v1"
    agency: AgencyCode
    household_id: uuid.UUID = Field(description="The voided record's household")


IntakeMessage = IntakeGrantV1 | IntakeMentoringVisitV1 | IntakeBusinessSurveyV1 | IntakeVoidV1
INTAKE_TYPES: Final[dict[str, type[IntakeMessage]]] = {
    model.TYPE: model
    for model in (IntakeGrantV1, IntakeMentoringVisitV1, IntakeBusinessSurveyV1, IntakeVoidV1)
}


def invalid_values(exc: ValidationError) -> str:
    """Each refused field with why, e.g. `amount_idr: Input should be a valid integer`."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors())


def agency_of_topic(topic: str, prefix: str) -> str | None:
    stem = f"{prefix}.intake."
    return topic.removeprefix(stem) if topic.startswith(stem) else None


def validate_intake(envelope: Envelope, topic_agency: str) -> IntakeMessage:
    """The typed message, or IntakeRejectedError saying what is wrong with it."""
    model = INTAKE_TYPES.get(envelope.type)
    if model is None:
        accepted = ", ".join(sorted(INTAKE_TYPES))
        raise IntakeRejectedError("unknown-type", f"{envelope.type} (accepted: {accepted})")
    expected_source = f"/gayari/agencies/{topic_agency}"
    if envelope.source != expected_source:
        raise IntakeRejectedError(
            "agency-mismatch", f"ce_source {envelope.source} on the intake topic of {topic_agency}"
        )
    for name, text in (
        ("ce_correlationid", envelope.correlationid),
        ("ce_tracestate", envelope.tracestate or ""),
    ):
        try:
            single_line(text)
        except ValueError as exc:
            raise IntakeRejectedError("invalid-cloudevent", f"{name} {exc}") from exc
    try:
        message = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise IntakeRejectedError("invalid-data", invalid_values(exc)) from exc
    if message.agency != topic_agency:
        raise IntakeRejectedError(
            "agency-mismatch", f"agency {message.agency} on the intake topic of {topic_agency}"
        )
    if str(message.household_id) != envelope.subject:
        raise IntakeRejectedError("subject-mismatch", "ce_subject differs from household_id")
    return message
