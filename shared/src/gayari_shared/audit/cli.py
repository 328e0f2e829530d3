"""`gayari-audit --url SERVICE --key-file KEY [filters]`: an administrator reads a service's
audit trail of personal data (its `GET /audit`), every page, newest first, as JSON lines (one
record a line) or a table.

The records stay in the service's database; this asks the service for them with an
administrator's key, so the same authorisation holds as for the endpoint.
Exit status: 0 records printed (or none matched), 2 the service refused or could not be asked.
Only the standard library: it runs wherever gayari-shared is installed.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

FILTERS = ("household_id", "key_id", "agency", "operation", "access", "since", "until")
SERVICES = {
    "registry": "http://127.0.0.1:8101",
    "interventions": "http://127.0.0.1:8102",
    "reporting": "http://127.0.0.1:8103",
}


class AuditQueryError(Exception):
    pass


def pages(url: str, key: str, filters: dict[str, str], page_size: int) -> Iterator[Any]:
    """The records of every page, following `next`."""
    after: int | None = None
    while True:
        params = {**filters, "limit": str(page_size)}
        if after is not None:
            params["after"] = str(after)
        request = urllib.request.Request(
            f"{url.rstrip('/')}/audit?{urlencode(params)}",
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                page = json.load(response)
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
            try:
                detail = json.loads(body).get("detail") or body
            except ValueError:
                detail = body
            raise AuditQueryError(f"{exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise AuditQueryError(f"cannot reach {url}: {exc}") from exc
        yield from page["records"]
        after = page["next"]
        if after is None:
            return


_COLUMNS = ("id", "at", "key_id", "agency", "access", "operation", "correlation_id")


def print_table(records: Iterator[Any], out: TextIO) -> int:
    out.write("  ".join(_COLUMNS) + "  household_ids\n")
    count = 0
    for r in records:
        cells = [str(r[c]) if r[c] is not None else "-" for c in _COLUMNS]
        out.write("  ".join(cells) + "  " + ",".join(r["household_ids"]) + "\n")
        count += 1
    return count


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="gayari-audit", description=__doc__)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="the service's base URL, e.g. http://127.0.0.1:8101")
    where.add_argument("--service", choices=sorted(SERVICES), help="a local service by name")
    parser.add_argument(
        "--key-file", type=Path, required=True, help="a file holding an administrator's API key"
    )
    parser.add_argument("--household-id")
    parser.add_argument("--key-id", help="the id of the API key that acted")
    parser.add_argument("--agency")
    parser.add_argument("--operation", help="e.g. read:household or gayari.grant.issued.v2")
    parser.add_argument("--access", choices=("read", "write"))
    parser.add_argument("--since", help="ISO date-time with offset, included")
    parser.add_argument("--until", help="ISO date-time with offset, excluded")
    parser.add_argument("--page-size", type=int, default=1000, help="records per request")
    parser.add_argument("--max", type=int, default=None, help="stop after this many records")
    parser.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    args = parser.parse_args(argv)

    if not args.key_file.is_file():
        print(f"{args.key_file} is not a file", file=sys.stderr)
        return 2
    key = args.key_file.read_text(encoding="utf-8").strip()
    url = args.url or SERVICES[args.service]
    filters = {f: getattr(args, f) for f in FILTERS if getattr(args, f) is not None}
    records = pages(url, key, filters, args.page_size)
    if args.max is not None:
        records = (r for _, r in zip(range(args.max), records, strict=False))
    try:
        if args.format == "table":
            print_table(records, out)
        else:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    except AuditQueryError as exc:
        print(f"gayari-audit: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
