"""`gayari-interventions`: run the interventions service."""

from __future__ import annotations

from gayari_interventions.bootstrap import SERVICE, create_app
from gayari_interventions.settings import InterventionsSettings
from gayari_shared.logging import configure_logging
from gayari_shared.runtime import serve
from gayari_shared.settings import CommonSettings


def main() -> None:
    common, settings = CommonSettings(), InterventionsSettings()
    configure_logging(SERVICE, common.log_level, common.log_json)
    serve(create_app(common, settings), common.http_host, settings.http_port)


if __name__ == "__main__":
    main()
