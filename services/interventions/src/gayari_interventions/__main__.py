"""`gayari-interventions`: run the interventions service."""

from __future__ import annotations

from gayari_interventions.bootstrap import SERVICE, create_app
from gayari_interventions.settings import InterventionsSettings
from gayari_shared.runtime import run_service


def main() -> None:
    run_service(SERVICE, InterventionsSettings, create_app, lambda settings: settings.http_port)


if __name__ == "__main__":
    main()
