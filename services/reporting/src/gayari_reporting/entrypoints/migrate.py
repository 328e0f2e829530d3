"""`gayari-reporting-migrate up|status|check`: the reporting service's schema migrations, run
before its processes start (see gayari_shared.migrate_command).

Three sets, each a folder of gayari_reporting/migrations: `control` (the generations' control
table and the audit trail, in `public`), `refusals` (the intake refusals, in `public`) and
`read_models`, applied in the active generation's schema and in each finished as-of report's;
a replay applies the same files to each generation it builds (adapters.generations)."""

from __future__ import annotations

from dataclasses import dataclass

from gayari_reporting.adapters.generations import (
    CONTROL,
    READ_MODELS,
    active_if_any,
    prepare,
    snapshots,
)
from gayari_reporting.adapters.refusals import REFUSALS
from gayari_reporting.settings import ReportingSettings
from gayari_shared import migrate_command
from gayari_shared.migrations import FileState, Migration, apply, status
from gayari_shared.postgres import Connection


@dataclass(frozen=True)
class ReportingSchema:
    async def up(self, conn: Connection) -> list[Migration]:
        _, applied = await prepare(conn)
        return applied + await apply(conn, REFUSALS)

    async def status(self, conn: Connection) -> list[FileState]:
        # Before the first run there is no generation: the read models' files are pending
        # (for a deployment from before generations, `public` holds their ledger).
        active = await active_if_any(conn)
        states = [
            *await status(conn, CONTROL),
            *await status(conn, REFUSALS),
            *await status(conn, READ_MODELS, schema=active),
        ]
        for snapshot in await snapshots(conn):
            states += await status(conn, READ_MODELS, schema=snapshot)
        return states


def target() -> ReportingSchema:
    return ReportingSchema()


def main() -> None:
    migrate_command.main("reporting", ReportingSettings, target)


if __name__ == "__main__":
    main()
