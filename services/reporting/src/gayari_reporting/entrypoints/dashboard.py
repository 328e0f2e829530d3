"""The dashboard page: a static shell (Bahasa Indonesia by default, English switch) that reads
the JSON read models with the visitor's API key. The shell itself holds no data, so it is
served without a key."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from fastapi.responses import FileResponse

from gayari_shared.http.problems import ProblemError

STATIC: Final = Path(__file__).parent / "static"
# Only these files are served: nothing else under the package can be reached by a path.
ASSETS: Final = {"chart.umd.min.js": "text/javascript", "chart.js.LICENSE.md": "text/markdown"}

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    return FileResponse(STATIC / "dashboard.html", media_type="text/html")


@router.get("/static/{name}")
async def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise ProblemError(404, "No such file", f"{name} is not served")
    return FileResponse(
        STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"}
    )
