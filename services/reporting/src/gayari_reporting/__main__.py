"""`gayari-reporting`: run the reporting service."""

from __future__ import annotations

from gayari_reporting.bootstrap import SERVICE, create_app
from gayari_reporting.settings import ReportingSettings
from gayari_shared.runtime import entry_point

main = entry_point(SERVICE, ReportingSettings, create_app, lambda settings: settings.http_port)

if __name__ == "__main__":
    main()
