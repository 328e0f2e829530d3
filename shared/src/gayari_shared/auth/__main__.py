"""Manage API keys: `python -m gayari_shared.auth {issue,revoke,list,dev-keys} --file KEYS.json`.

`issue` prints the new key once; only its digest is stored. `dev-keys` makes the local stack's
keys (one per configured agency, an administrator, a reporting reader) unless they exist.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.settings import CommonSettings

REGISTRAR_AGENCY = "dinsos"  # Social Affairs keeps the register of households


def _dev_keys(keys: KeyFile, out: Path) -> None:
    if out.exists():
        known = json.loads(out.read_text())
        valid = all(
            keys.authenticate(k)
            for k in [known["admin"], known["reporting"], *known["agencies"].values()]
        )
        if valid:
            print(f"development keys already in {out}")
            return
    plaintext: dict[str, object] = {}
    key, record = issue_key("local administrator", {Role.ADMIN})
    keys.add(record)
    plaintext["admin"] = key
    key, record = issue_key("local reporting reader", {Role.REPORTING_READ})
    keys.add(record)
    plaintext["reporting"] = key
    agencies: dict[str, str] = {}
    for agency in CommonSettings().agencies:
        roles = {Role.INTERVENTIONS_WRITE, Role.REPORTING_READ, Role.REGISTRY_READ}
        if agency.code == REGISTRAR_AGENCY:
            roles.add(Role.REGISTRY_WRITE)
        key, record = issue_key(f"{agency.name} (development)", roles, agency=agency.code)
        keys.add(record)
        agencies[agency.code] = key
    plaintext["agencies"] = agencies
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plaintext, indent=2))
    out.chmod(0o600)
    print(f"development keys written to {out} (digests in {keys.path})")


def expiry(text: str) -> datetime:
    """A key's expiry from the command line: a date is its first instant in UTC; a date-time
    must say its offset (an expiry in the wrong time zone is a key that works hours too long
    or stops hours too early)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text}") from exc
    if len(text) == 10:  # a date alone
        return moment.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"say the UTC offset (e.g. Z or +07:00): {text}")
    return moment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gayari_shared.auth", description=__doc__)
    parser.add_argument("--file", type=Path, required=True, help="the API keys file")
    commands = parser.add_subparsers(dest="command", required=True)
    issue = commands.add_parser("issue", help="issue a key and print it once")
    issue.add_argument("--label", required=True)
    issue.add_argument("--agency")
    issue.add_argument(
        "--role", action="append", required=True, choices=[role.value for role in Role]
    )
    issue.add_argument(
        "--expires",
        type=expiry,
        help="when the key stops working: an ISO date (its start, UTC) or date-time with a "
        "UTC offset, e.g. 2027-06-30 or 2027-06-30T17:00+07:00; without it, never",
    )
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    commands.add_parser("list", help="list keys (never their secrets)")
    dev = commands.add_parser("dev-keys", help="make the local stack's keys")
    dev.add_argument("--out", type=Path, required=True, help="where to write the plaintext keys")
    args = parser.parse_args(argv)

    keys = KeyFile(args.file)
    if args.command == "issue":
        key, record = issue_key(
            args.label, {Role(r) for r in args.role}, agency=args.agency, expires_at=args.expires
        )
        keys.add(record)
        print(key)
    elif args.command == "revoke":
        if not keys.revoke(args.key_id):
            print(f"no key {args.key_id}", file=sys.stderr)
            return 1
        print(f"revoked {args.key_id}")
    elif args.command == "list":
        now = datetime.now(UTC)
        for r in keys.records():
            if r.revoked_at:
                state = f"revoked {r.revoked_at:%Y-%m-%d}"
            elif r.expires_at and r.expired(now):
                state = f"expired {r.expires_at:%Y-%m-%d}"
            elif r.expires_at:
                state = f"until {r.expires_at:%Y-%m-%d}"
            else:
                state = "active"
            roles = ",".join(sorted(r.roles))
            print(f"{r.key_id}  {state:<18} {r.agency or '-':<10} {roles:<50} {r.label}")
    else:
        _dev_keys(keys, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
