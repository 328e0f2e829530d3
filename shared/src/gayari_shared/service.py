"""A FastAPI application with what every service has: problem details, correlation ids and
health routes whose checks the service's lifespan provides (app.state.checks)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from gayari_shared.http.correlation import CorrelationIdMiddleware
from gayari_shared.http.problems import install_problem_handlers

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _health_router() -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @router.get("/ready")
    async def ready(request: Request) -> JSONResponse:
        checks = getattr(request.app.state, "checks", None)
        if not checks:
            return JSONResponse({"status": "starting", "checks": {}}, status_code=503)
        status = {name: "up" if await check() else "down" for name, check in checks.items()}
        ok = all(v == "up" for v in status.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": status},
            status_code=200 if ok else 503,
        )

    return router


def make_app(title: str, lifespan: Lifespan, routers: Sequence[APIRouter]) -> FastAPI:
    app = FastAPI(title=title, lifespan=lifespan)
    install_problem_handlers(app)
    app.add_middleware(CorrelationIdMiddleware)
    app.include_router(_health_router())
    for router in routers:
        app.include_router(router)
    return app
