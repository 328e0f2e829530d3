"""What a NIK (Nomor Induk Kependudukan) says about its holder. Pure: no I/O.

Layout: PPKKCC DDMMYY NNNN. PPKKCC is the district (kecamatan) where the NIK was issued; DD is
the day of birth, plus 40 for women; MM and YY the month and two-digit year of birth; NNNN a
serial number.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

FEMALE_DAY_OFFSET = 40


def region_digits(village_code: str) -> str:
    """The six digits a NIK issued in the village's district starts with: 62.09.01.2001 ->
    620901."""
    return "".join(village_code.split(".")[:3])


def birth_digits(birth_date: date, sex: Literal["M", "F"]) -> str:
    day = birth_date.day + (FEMALE_DAY_OFFSET if sex == "F" else 0)
    return f"{day:02d}{birth_date.month:02d}{birth_date.year % 100:02d}"


def birth_mismatch(nik: str, birth_date: date, sex: Literal["M", "F"]) -> str | None:
    """Why the NIK's birth digits (positions 7-12) disagree with the birth date and sex, or None.

    Only the two-digit year is compared: a NIK cannot tell 1925 from 2025.
    """
    expected = birth_digits(birth_date, sex)
    if nik[6:12] == expected:
        return None
    who = "a woman" if sex == "F" else "a man"
    return (
        f"birth digits {nik[6:12]} do not agree with {who} born {birth_date.isoformat()} "
        f"(expected {expected}; women's day of birth is given plus 40)"
    )


def region_mismatch(nik: str, village_code: str) -> str | None:
    """Why the NIK was issued outside the village's district, or None.

    Not an error: people move, and a NIK keeps the district where it was first issued.
    """
    expected = region_digits(village_code)
    if nik[:6] == expected:
        return None
    issued = f"{nik[:2]}.{nik[2:4]}.{nik[4:6]}"
    return (
        f"NIK was issued in district {issued}, the household lives in district "
        f"{village_code.rsplit('.', 1)[0]}"
    )
