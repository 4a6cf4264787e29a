"""The country tables of the tz database (``zone.tab``, ``zone1970.tab``, ``iso3166.tab``),
as shipped by the ``tzdata`` package, or by the operating system when it is missing.

Apart from ``lines`` so that content validation can check country codes without
importing the crisis lines, which in turn know the content's helpline types."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path

_SYSTEM_ZONEINFO = Path("/usr/share/zoneinfo")


def tz_table(name: str) -> str:
    """Text of one tz database table; empty when neither copy is installed."""
    try:
        return resources.files("tzdata.zoneinfo").joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        pass
    try:
        return (_SYSTEM_ZONEINFO / name).read_text(encoding="utf-8")
    except OSError:
        return ""


def rows(table: str) -> Iterator[list[str]]:
    for line in table.splitlines():
        if line and not line.startswith("#"):
            yield line.split("\t")


@cache
def iso_country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes the tz database knows (``iso3166.tab``)."""
    return frozenset(row[0].strip().upper() for row in rows(tz_table("iso3166.tab")))
