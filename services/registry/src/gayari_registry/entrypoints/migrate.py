"""`gayari-registry-migrate up|status|check`: the registry's schema migrations, run before its
processes start (see gayari_shared.migrate_command)."""

from __future__ import annotations

from gayari_registry.adapters.postgres import MIGRATIONS
from gayari_registry.settings import RegistrySettings
from gayari_shared import migrate_command


def target() -> migrate_command.OneSet:
    return migrate_command.OneSet(MIGRATIONS)


def main() -> None:
    migrate_command.main("registry", RegistrySettings, target)


if __name__ == "__main__":
    main()
