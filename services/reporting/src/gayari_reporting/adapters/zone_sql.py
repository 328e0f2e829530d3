"""A household's calendar in the read models' SQL: the day and month of a moment in the zone of
the household's province (gayari_shared.areas.zones, Keppres 41/1987).

Each generation holds the SQL function `area_zone(code)` (read-model migration 12, the text of
AREA_ZONE_FUNCTION; a unit test holds the latest migration defining it to this text): the IANA
zone of the code's province, and Lamandau's (WIB, Asia/Jakarta) where the household's village
is not known (a record that arrived before its household's registration). It is IMMUTABLE and a
single expression, so the planner inlines it (a CASE, no function call), and `timestamptz AT
TIME ZONE text` with it stays immutable. The projector's statements work it out once per
household (tallies.py, `st.zone`), not once per date.

A grant's day, month and (when the grant names none) fiscal year, and a household's
registration, enrolment and exit months, are counted in the zone of the household's village
as the household state holds it: a household moving to another zone's province has its
figures counted again by the batch that moves it (tallies.py). Days the agencies type in
(a training's completion, a visit, a survey) are already days of their calendar.
"""

from __future__ import annotations

from typing import Final

from gayari_reporting.domain.calendar import DEFAULT_ZONE
from gayari_shared.areas.zones import ZONES, zone_case_sql

AREA_ZONE_FUNCTION: Final = f"""CREATE OR REPLACE FUNCTION area_zone(area text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT {zone_case_sql("area")} $$;"""


# The zone of a record whose household is not known yet: Lamandau's.
DEFAULT: Final = ZONES[DEFAULT_ZONE].key


def zone(village: str) -> str:
    """The IANA zone of the village code expression `village` (an SQL text)."""
    return f"area_zone({village})"


def local_in(moment: str, zone: str) -> str:
    """The wall-clock time (a timestamp) of the timestamptz expression `moment` in the zone
    that the SQL expression `zone` names."""
    return f"({moment} AT TIME ZONE {zone})"


def local(moment: str, village: str) -> str:
    """The wall-clock time of `moment` in the zone of the village code expression `village`."""
    return local_in(moment, zone(village))


def day(moment: str, village: str) -> str:
    """The calendar day of `moment` in the zone of `village` (an SQL date)."""
    return f"{local(moment, village)}::date"
