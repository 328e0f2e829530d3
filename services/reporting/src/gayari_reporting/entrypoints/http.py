"""HTTP API of reporting: the joint programme's progress."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from gayari_reporting.adapters.projector import Projector
from gayari_reporting.adapters.store import ReadModelStore
from gayari_reporting.domain.projection import Progress, progress_report
from gayari_shared.agencies import Agency
from gayari_shared.auth import Role, require

router = APIRouter(tags=["reporting"], dependencies=[Depends(require(Role.REPORTING_READ))])


class ProjectionStatus(BaseModel):
    consumer_group: str
    events_projected_since_start: int
    events_behind: int | None
    events_rejected: int


@router.get("/progress")
async def get_progress(request: Request) -> Progress:
    """Households registered, grants (count and IDR) and trainings completed, overall and per
    agency."""
    store: ReadModelStore = request.app.state.store
    agencies: tuple[Agency, ...] = request.app.state.agencies
    households, grants, trainings, as_of = await store.progress_figures()
    return progress_report(
        households=households,
        grants_by_agency=grants,
        trainings_by_agency=trainings,
        agencies=agencies,
        as_of=as_of,
    )


@router.get("/projection/status")
async def get_projection_status(request: Request) -> ProjectionStatus:
    """How far the projection is: events behind the head of the assigned partitions."""
    projector: Projector = request.app.state.projector
    store: ReadModelStore = request.app.state.store
    return ProjectionStatus(
        consumer_group=projector.group_id,
        events_projected_since_start=projector.projected_total,
        events_behind=await projector.events_behind(),
        events_rejected=await store.rejected_count(),
    )
