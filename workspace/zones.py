"""Time zones by country, for choosing a participant's zone: the site's country first, then all others.

Which zones a country has comes from the system's tz database (``zone.tab`` under zoneinfo.TZPATH: one
line per country and zone, with the names people know, e.g. Europe/Oslo rather than the zone it links to);
``zone1970.tab`` when that is missing; and a small built-in table when neither file exists. The tz
database orders a country's zones geographically, not by population, so the most used zones of the
larger countries are listed here, most populous first; the rest of the country's zones follow in the
database's order.
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from pathlib import Path

# Most populous first. The first zone of a country is its default.
COMMON: dict[str, tuple[str, ...]] = {
    "US": (
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    ),
    "CA": (
        "America/Toronto",
        "America/Vancouver",
        "America/Edmonton",
        "America/Winnipeg",
        "America/Halifax",
        "America/Regina",
        "America/St_Johns",
    ),
    "AU": (
        "Australia/Sydney",
        "Australia/Melbourne",
        "Australia/Brisbane",
        "Australia/Perth",
        "Australia/Adelaide",
        "Australia/Hobart",
        "Australia/Darwin",
    ),
    "BR": ("America/Sao_Paulo", "America/Bahia", "America/Fortaleza", "America/Recife", "America/Manaus"),
    "MX": ("America/Mexico_City", "America/Monterrey", "America/Tijuana", "America/Merida", "America/Cancun"),
    "RU": ("Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Vladivostok"),
    "NZ": ("Pacific/Auckland", "Pacific/Chatham"),
    "ES": ("Europe/Madrid", "Atlantic/Canary"),
    "PT": ("Europe/Lisbon", "Atlantic/Azores", "Atlantic/Madeira"),
}

# Used only when the system has no tz database tables: a few single-zone countries besides COMMON.
FALLBACK: dict[str, tuple[str, ...]] = {
    **COMMON,
    "GB": ("Europe/London",),
    "IE": ("Europe/Dublin",),
    "DE": ("Europe/Berlin",),
    "FR": ("Europe/Paris",),
    "NL": ("Europe/Amsterdam",),
    "IT": ("Europe/Rome",),
    "CH": ("Europe/Zurich",),
    "SE": ("Europe/Stockholm",),
    "NO": ("Europe/Oslo",),
    "DK": ("Europe/Copenhagen",),
    "IN": ("Asia/Kolkata",),
    "JP": ("Asia/Tokyo",),
}


def read_table(text: str) -> dict[str, list[str]]:
    """Country code -> zones, from the text of zone.tab or zone1970.tab (codes may be comma-separated)."""
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) < 3:
            continue
        for country in columns[0].split(","):
            table.setdefault(country.strip().upper(), []).append(columns[2].strip())
    return table


@cache
def country_table() -> dict[str, tuple[str, ...]]:
    """Country code -> its zones, from the first table found on zoneinfo.TZPATH, else the built-in one."""
    for name in ("zone.tab", "zone1970.tab"):
        for root in zoneinfo.TZPATH:
            path = Path(root) / name
            if path.is_file():
                return {k: tuple(v) for k, v in read_table(path.read_text(encoding="utf-8")).items()}
    return dict(FALLBACK)


@cache
def all_zones() -> tuple[str, ...]:
    """Every zone name this system knows, sorted (the "Etc/", "SystemV/" style names left out)."""
    return tuple(
        sorted(
            z
            for z in zoneinfo.available_timezones()
            if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/"))
        )
    )


def country_zones(country: str | None) -> list[str]:
    """The zones of a country, most used first; empty for no or an unknown country."""
    if not country:
        return []
    code = country.upper()
    listed = list(country_table().get(code, ()))
    known = set(zoneinfo.available_timezones())
    ordered = [z for z in COMMON.get(code, ()) if z in listed or not listed]
    ordered += [z for z in listed if z not in ordered]
    return [z for z in ordered if z in known]


def zone_choices(country: str | None) -> list[tuple[str, str]]:
    """The zones to offer, in order: the country's (most used first), then all others alphabetically."""
    first = country_zones(country)
    taken = set(first)
    rest = [z for z in all_zones() if z not in taken]
    if "UTC" not in taken:
        rest.append("UTC")
    return [(z, z.replace("_", " ")) for z in first + rest]


def default_zone(country: str | None, trial_zone: str) -> str:
    """The trial's zone if it lies in the country (or the country is unknown), else the country's most
    populous zone."""
    zones = country_zones(country)
    if not zones or trial_zone in zones:
        return trial_zone
    return zones[0]
