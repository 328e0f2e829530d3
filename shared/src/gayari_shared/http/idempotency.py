"""The Idempotency-Key request header on the write APIs (IETF httpapi draft
"The Idempotency-Key HTTP Header Field"): a retried write is answered from its first response.

A write route honours the header when its router's routes are IdempotentRoute and it
authenticates with `authorized_idempotent(role)` (the bearer scheme's own dependency: the key's
check costs no dependency of its own). Without the header nothing changes.

- The value: an RFC 8941 String (quoted, e.g. `"8e03978e-40d5-43e8-bc93-6894a57f9324"`), as
  the draft says; the same characters unquoted are accepted too (clients often send a bare
  UUID), letters, digits and `-._~:+/=`. 1 to 255 characters; anything else is a 400.
- Scope: the caller's agency (keys without an agency, the administrators', share one scope of
  their own), not the API key, so a retry after a key rotation finds the first request.
- Fingerprint: SHA-256 of the method, the path and the body as canonical JSON (keys sorted,
  no insignificant whitespace; a body that is not JSON: its bytes), so a client that
  re-serialises the same body differently is still retrying.
- Stored: 2xx answers, with the rows they wrote: by the statement of a write that is one
  statement (the endpoint tells how it answers the written result, `answer_written`, and that
  answer is the response, first and on every replay), or else in one transaction, the key's
  row last (it is the claim: see gayari_shared.idempotency). A refusal (a 4xx of the use
  case, a request that does not validate) and a server failure write nothing and are not
  stored: the key stays free, and a retry is decided again (it may succeed once the cause
  is gone; nothing can be counted twice, as nothing was written).
- A request with a key runs its use case first. If a response is stored for the key it is
  answered instead, and what the use case wrote is rolled back: found when storing (a 2xx),
  or looked up before answering anything else (a use case refusing because the first
  attempt succeeded, "already enrolled", still gets the first answer).
- A retry with the same fingerprint gets the stored status, headers and body, with
  `Idempotent-Replayed: true`; another fingerprint gets 422; a retry while the first is in
  flight gets the stored response once the first commits, or 409 with Retry-After if it has
  not committed within IN_FLIGHT_WAIT.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Final

from fastapi import Header, Request, Response, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gayari_shared.audit.http import AuditTrail
from gayari_shared.audit.store import AuditLog
from gayari_shared.audit.trail import households_in
from gayari_shared.auth import Principal, Role
from gayari_shared.auth.http import RoleBearer
from gayari_shared.http.openapi import DeclaredQueryRoute
from gayari_shared.http.problems import FieldError, ProblemError
from gayari_shared.idempotency import (
    AlreadyStoredError,
    Answer,
    Claim,
    IdempotencyStore,
    InFlightError,
    StoredResponse,
    carried_answer,
)

HEADER: Final = "Idempotency-Key"
MAX_KEY_LENGTH: Final = 255
RETRY_AFTER_S: Final = "1"
# Keys without an agency (administrators) share this scope; no agency code can be it.
ADMIN_SCOPE: Final = "*"
# Headers of a response stored with it and given again on a replay (the ETag: the household's
# version that a client sends on to the interventions service).
_KEPT_HEADERS: Final = ("content-type", "location", "etag")
_STATE: Final = "idempotency_claim"
_JSON: Final = JSONResponse.media_type

# An RFC 8941 sf-string: printable ASCII, with \" and \\ escaped.
_SF_STRING: Final = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_BARE: Final = re.compile(r"[A-Za-z0-9\-._~:+/=]+")
_UNESCAPE: Final = re.compile(r"\\([\"\\])")

EXAMPLE: Final = '"8e03978e-40d5-43e8-bc93-6894a57f9324"'
DESCRIPTION: Final = (
    "Makes the write safe to retry (IETF httpapi Idempotency-Key draft): an RFC 8941 string, "
    'e.g. `"8e03978e-40d5-43e8-bc93-6894a57f9324"` (unquoted letters, digits and `-._~:+/=` '
    "are accepted too), 1 to 255 characters, unique per write within the caller's agency. "
    "A retry with the same key and body gets the first response again (header "
    "`Idempotent-Replayed: true`) and writes nothing; the same key with another body is a 422; "
    "a retry while the first is still in flight is a 409 with Retry-After. Only successful "
    "responses are kept, for the service's idempotency_ttl_h (24 hours by default)."
)


def _malformed(message: str) -> ProblemError:
    return ProblemError(
        400,
        "Malformed Idempotency-Key",
        f"{HEADER}: {message}",
        kind="urn:gayari:problem:invalid-idempotency-key",
        errors=[FieldError(field=HEADER, message=message)],
    )


def parse_key(value: str) -> str:
    """The key an Idempotency-Key header carries; ProblemError 400 if it is malformed."""
    value = value.strip(" \t")
    if value.startswith('"'):
        match = _SF_STRING.fullmatch(value)
        if match is None:
            raise _malformed('not a structured-field string (RFC 8941): quote it, escape \\ and "')
        key = _UNESCAPE.sub(r"\1", match.group(1))
    elif _BARE.fullmatch(value):
        key = value
    else:
        raise _malformed('expected a quoted string, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"')
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise _malformed(f"from 1 to {MAX_KEY_LENGTH} characters")
    return key


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    """SHA-256 of the method, the path and the body as canonical JSON (its bytes if it is not
    JSON)."""
    try:
        document = json.loads(body)
    except ValueError:
        return _digest(method, path, body)
    return _digest(method, path, _canonical(document))


def _canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(method: str, path: str, canonical: bytes) -> bytes:
    return hashlib.sha256(b"%s\n%s\n%s" % (method.encode(), path.encode(), canonical)).digest()


async def _fingerprint_of(request: Request) -> bytes:
    """`fingerprint` of the request, from the JSON document FastAPI parsed already (Starlette
    keeps it: not parsed twice)."""
    body = await request.body()
    try:
        document = await request.json()
    except ValueError:
        return _digest(request.method, request.url.path, body)
    return _digest(request.method, request.url.path, _canonical(document))


def scope_of(principal: Principal) -> str:
    return principal.agency if principal.agency is not None else ADMIN_SCOPE


def replayed(stored: StoredResponse) -> Response:
    return Response(
        content=stored.body,
        status_code=stored.status,
        headers={**stored.headers, "Idempotent-Replayed": "true"},
    )


def _same_request(stored: StoredResponse, wanted: bytes) -> StoredResponse:
    """The stored response if it answered the same request; else a 422 problem."""
    if stored.fingerprint != wanted:
        raise ProblemError(
            422,
            "Idempotency-Key reused",
            f"{HEADER}: this key was used for another request (method, path or body); "
            "send a new key for a new request",
            kind="urn:gayari:problem:idempotency-key-reused",
            errors=[FieldError(field=HEADER, message="used before with another request")],
        )
    return stored


def _in_flight() -> ProblemError:
    return ProblemError(
        409,
        "Request in flight",
        f"{HEADER}: a request with this key is still being processed; retry later",
        kind="urn:gayari:problem:idempotency-key-in-flight",
        errors=[FieldError(field=HEADER, message="a request with this key is in flight")],
        headers={"Retry-After": RETRY_AFTER_S},
    )


def json_answer(status: int, content: BaseModel, headers: dict[str, str] | None = None) -> Answer:
    """The answer a route gives `content` as its response model, the bytes FastAPI renders
    (compact JSON by alias; pydantic's own serializer, not the model dumped then encoded again),
    with these headers: what a key stores when its write carries it."""
    kept = {"content-type": _JSON}
    kept.update((name.lower(), value) for name, value in (headers or {}).items())
    return Answer(status, kept, content.__pydantic_serializer__.to_json(content, by_alias=True))


def answered(answer: Answer) -> Response:
    return Response(content=answer.body, status_code=answer.status, headers=answer.headers)


async def claim_key(request: Request, principal: Principal, value: str) -> None:
    """The claim of the request's key: the request goes on with it (finished by
    IdempotentRoute, which stores the response unless a write did, and so claims the key)."""
    if not getattr(request.state, "idempotent_route", False):
        raise RuntimeError(f"{request.url.path} honours {HEADER} only with IdempotentRoute")
    key = parse_key(value)
    wanted = await _fingerprint_of(request)
    store: IdempotencyStore = request.app.state.idempotency
    claim = store.claim(scope_of(principal), key, wanted)
    setattr(request.state, _STATE, claim)
    # Bound for the rest of this task: the endpoint's units of work run on its connection.
    claim.bind()


class IdempotentRoleBearer(RoleBearer):
    """The bearer scheme and the role check (RoleBearer) that also honours the Idempotency-Key
    header, declared in the OpenAPI document: one dependency, as the key's check costs none of
    its own. The key is claimed once the caller is authorized."""

    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        idempotency_key: Annotated[
            str | None, Header(alias=HEADER, description=DESCRIPTION, examples=[EXAMPLE])
        ] = None,
    ) -> Principal:
        principal = await super().__call__(request)
        if idempotency_key is not None:
            await claim_key(request, principal, idempotency_key)
        return principal


def authorized_idempotent(role: Role) -> Any:
    """`authorized(role)` for a write that honours the Idempotency-Key header (on a route of
    IdempotentRoute)."""
    return Security(IdempotentRoleBearer(role), scopes=[role.value])


async def _replay(request: Request, stored: StoredResponse) -> Response:
    """The stored response again: it may hold a household's personal data (the household a
    registration answered with), so the replay is a read of it in the audit trail."""
    households = households_in(stored.body)
    log: AuditLog | None = getattr(request.app.state, "audit_log", None)
    if households and log is not None:
        await AuditTrail(log).read("read:replay", households)
    return replayed(stored)


async def _stored_instead(request: Request, claim: Claim) -> Response | None:
    """For a request with a key that is not answered with a 2xx (nothing of it kept): the
    response stored for the key, if any (the first attempt's), else None. A 422 problem if it
    answered another request."""
    await claim.rollback()
    stored = await claim.store.stored(claim.scope, claim.key)
    if stored is None:
        return None
    return await _replay(request, _same_request(stored, claim.fingerprint))


async def _finish(request: Request, claim: Claim, response: Response) -> Response:
    if not 200 <= response.status_code < 300:
        return await _stored_instead(request, claim) or response
    if claim.carried is not None:
        # Stored and committed with the write: the endpoint answered with the stored answer
        # (_answering_carried), the same bytes as every replay of it.
        await claim.end()
        return response
    headers = {name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers}
    try:
        await claim.commit(response.status_code, headers, bytes(response.body))
    except AlreadyStoredError as exc:
        return await _replay(request, _same_request(exc.stored, claim.fingerprint))
    except InFlightError:
        raise _in_flight() from None
    return response


def _answering_carried(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint, answering with the answer its write stored with the request's key when it
    carried one: the stored bytes, and FastAPI does not render the result again."""
    if not inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)  # FastAPI reads the parameters and the response model through it
    async def answering(*args: Any, **kwargs: Any) -> Any:
        result = await endpoint(*args, **kwargs)
        carried = carried_answer()
        return result if carried is None else answered(carried)

    return answering


class IdempotentRoute(DeclaredQueryRoute):
    """A route whose request, when it carries an Idempotency-Key, ends by storing its response
    and committing (2xx), or rolling back and answering a response stored for the key if
    there is one (anything else, an exception too). A write that stored the response itself is
    answered with it. It refuses undeclared query parameters as DeclaredQueryRoute does (before
    any key is claimed)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _answering_carried(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            request.state.idempotent_route = True
            try:
                try:
                    response = await handle(request)
                except Exception as exc:
                    # A refusal raised (a problem, a body that does not validate): the first
                    # attempt's response if one is stored, else this refusal.
                    claim = getattr(request.state, _STATE, None)
                    if claim is None:
                        raise
                    claim.unbind()
                    instead = await _stored_instead(request, claim)
                    if instead is not None:
                        return instead
                    if isinstance(exc, InFlightError):  # a write that carried the key waited
                        raise _in_flight() from None
                    raise
                claim = getattr(request.state, _STATE, None)
                if claim is None:
                    return response
                claim.unbind()
                return await _finish(request, claim, response)
            finally:
                # An exception (the endpoint's, or the commit's): nothing of the request is
                # kept and the key is free. After a commit, nothing to do.
                claim = getattr(request.state, _STATE, None)
                if claim is not None:
                    claim.unbind()
                    await claim.rollback()

        return handler
