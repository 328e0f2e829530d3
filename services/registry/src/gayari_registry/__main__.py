"""`gayari-registry`: run the registry service."""

from __future__ import annotations

from gayari_registry.bootstrap import SERVICE, create_app
from gayari_registry.settings import RegistrySettings
from gayari_shared.runtime import run_service


def main() -> None:
    run_service(SERVICE, RegistrySettings, create_app, lambda settings: settings.http_port)


if __name__ == "__main__":
    main()
