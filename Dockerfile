# syntax=docker/dockerfile:1
# The image of one GAYARI service, chosen by build arguments. Build from the repository root
# (the uv workspace needs shared/):
#   docker build --build-arg SERVICE=registry --build-arg HTTP_PORT=8101 -t gayari/registry .
#   docker build --build-arg SERVICE=interventions --build-arg HTTP_PORT=8102 -t gayari/interventions .
#   docker build --build-arg SERVICE=reporting --build-arg HTTP_PORT=8103 -t gayari/reporting .
# Dependencies come from uv.lock (--frozen): the image holds exactly what the lock file says for
# gayari-$SERVICE and gayari-shared, nothing from the dev or stack groups.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_VERSION=0.13.8

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM ${PYTHON_IMAGE} AS builder
# registry, interventions or reporting: the folder under services/ and the package gayari-$SERVICE.
ARG SERVICE
RUN test -n "$SERVICE" || { echo "build with --build-arg SERVICE=registry|interventions|reporting" >&2; exit 1; }
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Third-party dependencies first: this layer is rebuilt only when the lock file changes. Every
# member's pyproject.toml is needed for uv to read the workspace.
COPY uv.lock pyproject.toml ./
COPY shared/pyproject.toml shared/pyproject.toml
COPY services/registry/pyproject.toml services/registry/pyproject.toml
COPY services/interventions/pyproject.toml services/interventions/pyproject.toml
COPY services/reporting/pyproject.toml services/reporting/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --package "gayari-${SERVICE}" --no-default-groups --no-dev \
        --no-install-workspace
# Then the two workspace packages this service is made of, installed as wheels (not editable),
# so the runtime stage needs nothing but the venv.
COPY shared shared
COPY services/${SERVICE} services/${SERVICE}
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --package "gayari-${SERVICE}" --no-default-groups --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
# The service's HTTP port (its settings' default: registry 8101, interventions 8102, reporting
# 8103); GAYARI_<SERVICE>_HTTP_PORT set at run time moves it, and the health check follows.
ARG HTTP_PORT
LABEL org.opencontainers.image.title="gayari-${SERVICE}" \
      org.opencontainers.image.description="GAYARI ${SERVICE} service" \
      org.opencontainers.image.source="services/${SERVICE}"
# Where deployments mount the API keys file (GAYARI_API_KEYS_FILE: a volume in compose, a
# Secret in Kubernetes); owned by the service user, so a fresh named volume is too.
RUN test -n "$HTTP_PORT" || { echo "build with --build-arg HTTP_PORT=<the service's port>" >&2; exit 1; } \
    && groupadd --system --gid 10001 gayari \
    && useradd --system --uid 10001 --gid gayari --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin gayari \
    && mkdir -p /var/lib/gayari/auth \
    && chown gayari:gayari /var/lib/gayari/auth
# The venv stays owned by root, not writable by the service user: the root file system can be
# mounted read-only.
COPY --from=builder /app/.venv /app/.venv
# GAYARI_SERVICE and GAYARI_IMAGE_HTTP_PORT are for the image itself (command, health check);
# the service reads neither.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GAYARI_HTTP_HOST=0.0.0.0 \
    GAYARI_SERVICE=${SERVICE} \
    GAYARI_IMAGE_HTTP_PORT=${HTTP_PORT}
WORKDIR /app
USER 10001:10001
EXPOSE ${HTTP_PORT}
# Liveness only (the process answers HTTP); readiness (/health/ready) is for orchestrators.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; s = os.environ['GAYARI_SERVICE'].upper(); port = os.environ.get(f'GAYARI_{s}_HTTP_PORT', os.environ['GAYARI_IMAGE_HTTP_PORT']); urllib.request.urlopen(f'http://127.0.0.1:{port}/health/live', timeout=4)"]
# SIGTERM (the default stop signal) stops the service gracefully with exit 0. The shell form
# would put a shell in front of the service, between it and the signal: exec replaces it.
CMD ["/bin/sh", "-c", "exec gayari-${GAYARI_SERVICE}"]
