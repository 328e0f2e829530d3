"""`gayari-interventions-migrate up|status|check`: the schema migrations of the interventions
service, run before its processes start (see gayari_shared.migrate_command)."""

from __future__ import annotations

from gayari_interventions.adapters.postgres import MIGRATIONS
from gayari_interventions.settings import InterventionsSettings
from gayari_shared import migrate_command


def target() -> migrate_command.OneSet:
    return migrate_command.OneSet(MIGRATIONS)


def main() -> None:
    migrate_command.main("interventions", InterventionsSettings, target)


if __name__ == "__main__":
    main()
