"""A FastAPI application with what every service has: problem details, correlation ids,
health routes whose checks the service's lifespan provides (app.state.checks), and its OpenAPI
document with Swagger UI at /docs and ReDoc at /redoc, both from assets the service serves
itself (no CDN: the pages work on a network without internet)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from gayari_shared.auth.keys import KeyFile
from gayari_shared.http.openapi import DeclaredQueryRoute, install_openapi, operation_id
from gayari_shared.http.problems import install_problem_handlers
from gayari_shared.http.request_context import RequestContextMiddleware
from gayari_shared.metrics import metrics_response
from gayari_shared.settings import CommonSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _health_router() -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"], route_class=DeclaredQueryRoute)

    @router.get("/live", operation_id="getLiveness")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @router.get("/ready", operation_id="getReadiness")
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


def load_keys(common: CommonSettings) -> KeyFile:
    """The API keys every request is checked against; a service without them does not start."""
    if common.api_keys_file is None:
        raise RuntimeError(
            "GAYARI_API_KEYS_FILE is not set: name the API keys file "
            "(create keys with `python -m gayari_shared.auth --file FILE issue ...`)"
        )
    if not common.api_keys_file.is_file():
        raise RuntimeError(
            f"GAYARI_API_KEYS_FILE names {common.api_keys_file}, which does not exist"
        )
    return KeyFile(common.api_keys_file)


def make_app(title: str, lifespan: Lifespan, routers: Sequence[APIRouter]) -> FastAPI:
    # FastAPI's own OpenTelemetry is off: RequestContextMiddleware makes the server span (with
    # it on, a traced request got two), Prometheus has the metrics, and its check, on every
    # request, of whether any provider is set reads the environment three times.
    app = FastAPIOffline(
        title=title,
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        generate_unique_id_function=operation_id,
        static_url="/docs/static",
    )
    app.router.route_class = DeclaredQueryRoute
    install_problem_handlers(app)
    install_openapi(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(_health_router())
    app.add_route("/metrics", metrics_response, include_in_schema=False)

    @app.get("/asyncapi.json", tags=["contracts"], operation_id="getAsyncapiDocument")
    async def asyncapi(request: Request) -> JSONResponse:
        """The service's AsyncAPI document: the topics it publishes and consumes."""
        document = getattr(request.app.state, "asyncapi", None)
        if document is None:
            return JSONResponse({"detail": "starting"}, status_code=503)
        return JSONResponse(document)

    for router in routers:
        app.include_router(router)
    return app
