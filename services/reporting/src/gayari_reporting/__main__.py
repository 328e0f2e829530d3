"""`gayari-reporting`: run the reporting service."""

from __future__ import annotations

from gayari_reporting.bootstrap import SERVICE, create_app
from gayari_reporting.settings import ReportingSettings
from gayari_shared.logging import configure_logging
from gayari_shared.runtime import serve
from gayari_shared.settings import CommonSettings


def main() -> None:
    common, settings = CommonSettings(), ReportingSettings()
    configure_logging(SERVICE, common.log_level, common.log_json)
    serve(create_app(common, settings), common.http_host, settings.http_port)


if __name__ == "__main__":
    main()
