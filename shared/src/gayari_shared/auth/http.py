"""FastAPI dependencies: `Depends(require(Role.X))` gives the authenticated Principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gayari_shared.auth.keys import KeyFile, Principal, Role
from gayari_shared.http.problems import ProblemError

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer gyr_...`")


def _unauthenticated(detail: str) -> ProblemError:
    return ProblemError(
        401,
        "Not authenticated",
        detail,
        kind="urn:gayari:problem:unauthenticated",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
        if credentials is None:
            raise _unauthenticated("an API key is required (Authorization: Bearer ...)")
        keys: KeyFile = request.app.state.keys
        principal = keys.authenticate(credentials.credentials)
        if principal is None:
            raise _unauthenticated("the API key is unknown or revoked")
        if not principal.may(role):
            raise ProblemError(
                403,
                "Forbidden",
                f"key {principal.key_id} ({principal.label}) lacks the role {role.value}",
                kind="urn:gayari:problem:forbidden",
            )
        return principal

    return dependency
