"""Request body examples of the registry's OpenAPI document (Swagger UI offers them as the
body to try). Each is a body the registry accepts, against the standard area directory."""

from __future__ import annotations

from typing import Any, Final

from fastapi.openapi.models import Example

HEAD: Final[dict[str, Any]] = {
    "name": "Yohanes Riwut",
    "nik": "6209031203800001",
    "sex": "M",
    "birth_date": "1980-03-12",
    "relationship": "head",
}

HOUSEHOLD: Final[dict[str, Example]] = {
    "family": Example(
        summary="A family of three in Bukit Raya, Lamandau",
        value={
            "kk": "6209030101260001",
            "head_name": "Yohanes Riwut",
            "village_code": "62.09.03.2001",
            "address": {"rt": "003", "rw": "001", "street": "Jl. Tjilik Riwut, Dusun II"},
            "welfare_decile": 2,
            "members": [
                HEAD,
                {
                    "name": "Maria Ngantung",
                    "nik": "6209035507850002",
                    "sex": "F",
                    "birth_date": "1985-07-15",
                    "relationship": "spouse",
                },
                {
                    "name": "Agustinus Riwut",
                    "nik": "6209030209100003",
                    "sex": "M",
                    "birth_date": "2010-09-02",
                    "relationship": "child",
                },
            ],
        },
    )
}

DETAILS_CHANGE: Final[dict[str, Example]] = {
    "decile": Example(summary="A new welfare decile", value={"welfare_decile": 3}),
    "address": Example(
        summary="A move within the village",
        value={"address": {"rt": "7", "rw": "2", "street": "Jl. Pendidikan No. 12"}},
    ),
}

ENROLMENT: Final[dict[str, Example]] = {
    "cohort": Example(summary="Into the 2026 cohort", value={"cohort_year": 2026})
}

EXIT: Final[dict[str, Example]] = {
    "graduated": Example(summary="The household became self-reliant", value={"reason": "graduated"})
}

CSV: Final = (
    "kk,village_code,rt,rw,address,welfare_decile,nik,name,sex,birth_date,relationship\n"
    "6209030101260001,62.09.03.2001,003,001,Dusun II,2,6209031203800001,Yohanes Riwut,M,"
    "1980-03-12,head\n"
    "6209030101260001,62.09.03.2001,003,001,Dusun II,2,6209035507850002,Maria Ngantung,F,"
    "1985-07-15,spouse\n"
)
