"""FastAPI dependencies: `authorized(Role.X)` (or `Depends(require(Role.X))`) gives the
authenticated Principal, and declares the bearer scheme on the operation in the OpenAPI
document; `authorized` names the role there too."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request, Security
from fastapi.security import HTTPBearer

from gayari_shared.auth.keys import KeyFile, Principal, Role
from gayari_shared.http.problems import ProblemError

# The key of the scheme in the document's components.securitySchemes.
SCHEME: Final = "bearerApiKey"


def _unauthenticated(detail: str) -> ProblemError:
    return ProblemError(
        401,
        "Not authenticated",
        detail,
        kind="urn:gayari:problem:unauthenticated",
        headers={"WWW-Authenticate": "Bearer"},
    )


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
        principal = keys.authenticate(credentials.credentials)
        if principal is None:
            raise _unauthenticated("the API key is unknown or revoked")
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
