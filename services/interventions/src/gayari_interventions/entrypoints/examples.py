"""Request body examples of the interventions' OpenAPI document (Swagger UI offers them as the
body to try). The ids are placeholders: use a household enrolled in the registry, and the ids
the service answered for sessions and records."""

from __future__ import annotations

from typing import Final

from fastapi.openapi.models import Example

HOUSEHOLD_ID: Final = "6f1c4e0e-7d3a-4b8e-9c51-2a1f0b9d3e71"
MEMBER_ID: Final = "0b7e2f64-3c1d-4a59-8e2f-5d6c7b8a9f10"
SESSION_ID: Final = "c3a9d1e2-4f5b-4c6d-8e7f-9a0b1c2d3e4f"
WHO: Final = {"session_id": SESSION_ID, "household_id": HOUSEHOLD_ID, "member_id": MEMBER_ID}

GRANT: Final[dict[str, Example]] = {
    "capital": Example(
        summary="Capital stimulus",
        value={
            "household_id": HOUSEHOLD_ID,
            "kind": "capital",
            "amount_idr": 2_500_000,
            "purpose": "Modal usaha warung sembako",
            "budget_line": "5.1.05.05.01.0001",
        },
    ),
    "equipment": Example(
        summary="Equipment: the amount is the items' sum",
        value={
            "household_id": HOUSEHOLD_ID,
            "kind": "equipment",
            "items": [
                {
                    "description": "Bibit ikan nila",
                    "quantity": 500,
                    "unit": "ekor",
                    "unit_value_idr": 300,
                },
                {
                    "description": "Terpal kolam",
                    "quantity": 2,
                    "unit": "buah",
                    "unit_value_idr": 450_000,
                },
            ],
            "purpose": "Budidaya ikan nila",
            "fiscal_year": 2026,
        },
    ),
}
TRAINING_SESSION: Final[dict[str, Example]] = {
    "session": Example(
        summary="A three-day course",
        value={
            "topic": "Budidaya ikan nila",
            "starts_on": "2026-03-02",
            "ends_on": "2026-03-04",
            "hours": 24,
            "place": "Balai Desa Bukit Raya",
        },
    )
}
PARTICIPANT: Final[dict[str, Example]] = {
    "member": Example(summary="A household member joins a session", value=WHO)
}
ATTENDANCE: Final[dict[str, Example]] = {
    "day": Example(summary="Present on one day", value={**WHO, "attended_on": "2026-03-02"})
}
COMPLETION: Final[dict[str, Example]] = {
    "completed": Example(summary="Course completed", value={**WHO, "completed_on": "2026-03-04"})
}
MENTORING_VISIT: Final[dict[str, Example]] = {
    "visit": Example(
        summary="A visit to a running business",
        value={
            "household_id": HOUSEHOLD_ID,
            "visited_on": "2026-04-10",
            "business_status": "running",
            "notes": "Kolam kedua sudah terisi; pakan cukup sampai bulan depan.",
        },
    )
}
BUSINESS_SURVEY: Final[dict[str, Example]] = {
    "survey": Example(
        summary="Income and workers this month",
        value={
            "household_id": HOUSEHOLD_ID,
            "surveyed_on": "2026-04-30",
            "monthly_income_idr": 3_200_000,
            "workers": 2,
        },
    )
}
BUDGET_ALLOCATION: Final[dict[str, Example]] = {
    "allocation": Example(
        summary="The agency's GAYARI budget for 2026",
        value={"fiscal_year": 2026, "amount_idr": 750_000_000, "budget_line": "5.1.05.05.01.0001"},
    )
}
VOID: Final[dict[str, Example]] = {
    "error": Example(
        summary="A grant entered in error",
        value={
            "intervention_type": "grant",
            "intervention_id": "9d2b8c1a-5e4f-4a3b-b2c1-d0e9f8a7b6c5",
            "reason": "entered-in-error",
        },
    ),
    "other": Example(
        summary="Another reason, explained",
        value={
            "intervention_type": "mentoring-visit",
            "intervention_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "reason": "other",
            "explanation": "Kunjungan dibatalkan karena banjir",
        },
    ),
}
