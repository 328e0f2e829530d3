"""`gayari-registry`: run the registry service.

`gayari-registry-relay`: its outbox relay, as a process of its own (outbox_relay =
"separate")."""

from __future__ import annotations

from gayari_registry.bootstrap import SERVICE, create_app, create_relay
from gayari_registry.settings import RegistrySettings
from gayari_shared.runtime import entry_point

main = entry_point(SERVICE, RegistrySettings, create_app, lambda settings: settings.http_port)
relay_main = entry_point(
    f"{SERVICE}-relay", RegistrySettings, create_relay, lambda settings: settings.relay_http_port
)

if __name__ == "__main__":
    main()
