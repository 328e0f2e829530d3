"""`gayari-interventions`: run the interventions service.

`gayari-interventions-relay`: its outbox relay, as a process of its own (outbox_relay =
"separate")."""

from __future__ import annotations

from gayari_interventions.bootstrap import SERVICE, create_app, create_relay
from gayari_interventions.settings import InterventionsSettings
from gayari_shared.runtime import run_service


def main() -> None:
    run_service(SERVICE, InterventionsSettings, create_app, lambda settings: settings.http_port)


def relay_main() -> None:
    run_service(
        f"{SERVICE}-relay",
        InterventionsSettings,
        create_relay,
        lambda settings: settings.relay_http_port,
    )


if __name__ == "__main__":
    main()
