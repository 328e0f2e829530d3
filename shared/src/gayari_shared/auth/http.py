"""FastAPI dependencies: `authorized(Role.X)` (or `Depends(require(Role.X))`) gives the
authenticated Principal, and declares the bearer scheme on the operation in the OpenAPI
document; `authorized` names the role there too.

Authentication also names the caller for what follows in the request: the audit trail's actor
(key id and agency) and the key id in the request's log lines (never the key)."""

from __future__ import annotations

from typing import Any, Final

import structlog
from fastapi import Request, Security
from fastapi.security import HTTPBearer

from gayari_shared.audit.trail import Actor, act_as
from gayari_shared.auth.keys import KeyFile, KeyRefusedError, Principal, Role
from gayari_shared.http.problems import ProblemError
from gayari_shared.http.request_context import KEY_ID_STATE

# The key of the scheme in the document's components.securitySchemes.
SCHEME: Final = "bearerApiKey"


def _unauthenticated(detail: str, kind: str = "urn:gayari:problem:unauthenticated") -> ProblemError:
    return ProblemError(
        401, "Not authenticated", detail, kind=kind, headers={"WWW-Authenticate": "Bearer"}
    )


def _authenticated(request: Request, principal: Principal) -> None:
    # The request's state is the scope's: the request middleware reads it for its log line.
    request.scope["state"][KEY_ID_STATE] = principal.key_id
    structlog.contextvars.bind_contextvars(key_id=principal.key_id)
    act_as(Actor(principal.key_id, principal.agency))


class RoleBearer(HTTPBearer):
    """The bearer scheme and the role check in one dependency. Being a security scheme itself
    (not a dependency on one) is what puts it into the document, at no extra dependency for
    FastAPI to solve on every request."""

    def __init__(self, role: Role) -> None:
        super().__init__(
            auto_error=False,
            scheme_name=SCHEME,
            bearerFormat="gyr_<key id>_<secret>",
            description="An API key, one per agency: `Authorization: Bearer gyr_...`. Each "
            "operation lists the role its key needs.",
        )
        self.role = role

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        # Problems of our own, not HTTPBearer's errors: a 401 with WWW-Authenticate.
        credentials = await super().__call__(request)
        if credentials is None:
            raise _unauthenticated("an API key is required (Authorization: Bearer ...)")
        keys: KeyFile = request.app.state.keys
        try:
            principal = keys.verify(credentials.credentials)
        except KeyRefusedError as exc:
            kind = (
                "urn:gayari:problem:key-expired"
                if exc.reason == "expired"
                else "urn:gayari:problem:unauthenticated"
            )
            raise _unauthenticated(str(exc), kind) from exc
        _authenticated(request, principal)
        if not principal.may(self.role):
            raise ProblemError(
                403,
                "Forbidden",
                f"key {principal.key_id} ({principal.label}) lacks the role {self.role.value}",
                kind="urn:gayari:problem:forbidden",
            )
        return principal


def require(role: Role) -> RoleBearer:
    return RoleBearer(role)


def authorized(role: Role) -> Any:
    """`Security(require(role))` with the role as the requirement's scope, so the document
    says which role an operation needs (OpenAPI 3.1 allows role names for any scheme)."""
    return Security(require(role), scopes=[role.value])
