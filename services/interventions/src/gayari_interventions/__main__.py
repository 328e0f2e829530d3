"""`gayari-interventions`: run the interventions service.

`gayari-interventions-relay`: its outbox relay, as a process of its own (outbox_relay =
"separate")."""

from __future__ import annotations

from gayari_interventions.bootstrap import SERVICE, create_app, create_relay
from gayari_interventions.settings import InterventionsSettings
from gayari_shared.runtime import entry_point

main = entry_point(SERVICE, InterventionsSettings, create_app, lambda settings: settings.http_port)
relay_main = entry_point(
    f"{SERVICE}-relay",
    InterventionsSettings,
    create_relay,
    lambda settings: settings.relay_http_port,
)

if __name__ == "__main__":
    main()
