"""`gayari-registry`: run the registry service."""

from __future__ import annotations

from gayari_registry.bootstrap import SERVICE, create_app
from gayari_registry.settings import RegistrySettings
from gayari_shared.logging import configure_logging
from gayari_shared.runtime import serve
from gayari_shared.settings import CommonSettings


def main() -> None:
    common, settings = CommonSettings(), RegistrySettings()
    configure_logging(SERVICE, common.log_level, common.log_json)
    serve(create_app(common, settings), common.http_host, settings.http_port)


if __name__ == "__main__":
    main()
