"""API keys: `gyr_<key id>_<secret>`. Only a SHA-256 digest of the secret is stored.

A fast digest is enough here: the secret is 256 random bits, so there is nothing to guess, and
every request can be checked in microseconds. Keys live in a JSON file named by
GAYARI_API_KEYS_FILE, shared by the services (a mounted Secret in a cluster). Rotation: issue a
new key, hand it over, revoke the old one; services reread the file when it changes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

PREFIX = "gyr"


class Role(StrEnum):
    ADMIN = "admin"  # every operation; never an agency's identity on an event
    REGISTRY_WRITE = "registry:write"  # register and change households (Social Affairs)
    REGISTRY_READ = "registry:read"
    INTERVENTIONS_WRITE = "interventions:write"  # record the key's own agency's interventions
    REPORTING_READ = "reporting:read"
    REPORTING_CASE = "reporting:case"  # one household's case file


class ApiKeyRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    key_id: str = Field(pattern=r"^[0-9a-f]{12}$")
    label: str
    agency: str | None = None
    roles: frozenset[Role]
    secret_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None
    # Absent in key files written before keys could expire: such keys never do.
    expires_at: AwareDatetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class Principal(BaseModel):
    """Who is calling: the agency (if any) and what it may do."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    label: str
    agency: str | None
    roles: frozenset[Role]

    def may(self, role: Role) -> bool:
        return Role.ADMIN in self.roles or role in self.roles


_RECORDS = TypeAdapter(list[ApiKeyRecord])


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _principal(record: ApiKeyRecord) -> Principal:
    return Principal(
        key_id=record.key_id, label=record.label, agency=record.agency, roles=record.roles
    )


RefusalReason = Literal["unknown", "revoked", "expired"]


class KeyRefusedError(Exception):
    """A key that does not authenticate, and why (said to the caller: never anything secret)."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: RefusalReason = reason


def issue_key(
    label: str,
    roles: set[Role],
    agency: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, ApiKeyRecord]:
    """A new key: the plaintext (shown once) and the record to store; with `expires_at` it
    stops working at that instant."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        key_id=key_id,
        label=label,
        agency=agency,
        roles=frozenset(roles),
        secret_sha256=_digest(secret),
        created_at=datetime.now(UTC),
        expires_at=expires_at,
    )
    return f"{PREFIX}_{key_id}_{secret}", record


class KeyFile:
    """The key records of one file, reread whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._records: dict[str, ApiKeyRecord] = {}
        # Built once per reading of the file (immutable), not on every request.
        self._principals: dict[str, Principal] = {}
        self._load()

    def records(self) -> list[ApiKeyRecord]:
        self._load()
        return list(self._records.values())

    def authenticate(self, presented: str) -> Principal | None:
        """The principal of a valid, unrevoked, unexpired key; None for anything else."""
        try:
            return self.verify(presented)
        except KeyRefusedError:
            return None

    def verify(self, presented: str) -> Principal:
        """The principal of a valid, unrevoked, unexpired key; KeyRefusedError says why not.
        An expired or revoked key is only named so once its secret matched."""
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            raise KeyRefusedError("unknown", "the API key is unknown")
        self._load()
        record = self._records.get(parts[1])
        if record is None or not hmac.compare_digest(record.secret_sha256, _digest(parts[2])):
            raise KeyRefusedError("unknown", "the API key is unknown")
        if record.revoked_at is not None:
            raise KeyRefusedError("revoked", f"the API key {record.key_id} is revoked")
        if record.expired(datetime.now(UTC)):
            assert record.expires_at is not None
            raise KeyRefusedError(
                "expired", f"the API key {record.key_id} expired at {record.expires_at.isoformat()}"
            )
        return self._principals[record.key_id]

    def add(self, record: ApiKeyRecord) -> None:
        self._load()
        self._records[record.key_id] = record
        self._principals[record.key_id] = _principal(record)
        self._save()

    def revoke(self, key_id: str) -> bool:
        self._load()
        record = self._records.get(key_id)
        if record is None:
            return False
        self._records[key_id] = record.model_copy(update={"revoked_at": datetime.now(UTC)})
        self._save()
        return True

    def _load(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._records, self._principals = None, {}, {}
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        records = _RECORDS.validate_json(self.path.read_bytes())
        self._records = {r.key_id: r for r in records}
        self._principals = {r.key_id: _principal(r) for r in records}
        self._stamp = stamp

    def _save(self) -> None:
        # Write-then-rename: a service rereading the file never sees half of it.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(
            [r.model_dump(mode="json") for r in self._records.values()], indent=2, sort_keys=True
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        with os.fdopen(fd, "w") as handle:
            handle.write(payload)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self._stamp = None
