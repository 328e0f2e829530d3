"""The agencies (OPD) that deliver GAYARI together.

Agencies are data, not code: the default set is the four that signed the agreement, and a
deployment can replace it through the GAYARI_AGENCIES setting (a JSON list).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Agency(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$")
    name: str
    name_en: str


DEFAULT_AGENCIES: tuple[Agency, ...] = (
    Agency(code="dinsos", name="Dinas Sosial", name_en="Social Affairs"),
    Agency(code="dispar", name="Dinas Pariwisata", name_en="Tourism"),
    Agency(
        code="distakan",
        name="Dinas Pertanian, Perikanan dan Peternakan",
        name_en="Agriculture, Fisheries and Livestock",
    ),
    Agency(
        code="dkukmpp",
        name="Dinas Koperasi, UKM, Perindustrian dan Perdagangan",
        name_en="Cooperatives, SMEs, Industry and Trade",
    ),
)
