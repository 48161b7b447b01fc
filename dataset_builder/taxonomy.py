"""Stage 1, the taxonomy: countries and territories (ISO 3166) x the eight cultural categories."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .records import CATEGORIES

# pycountry-convert has no continent for these ISO 3166 entries.
_CONTINENT_OVERRIDES = {"AQ": "Antarctica", "SX": "North America", "UM": "Oceania", "VA": "Europe"}
REGIONS = ("Africa", "Asia", "Europe", "North America", "South America", "Oceania", "Antarctica")


@dataclass(frozen=True)
class Country:
    code: str
    """ISO 3166-1 alpha-2."""
    name: str
    region: str
    """Continent, one of `REGIONS`."""


@dataclass(frozen=True)
class TaxonomyCell:
    country: Country
    category: str
    description: str


@cache
def category_descriptions() -> dict[str, str]:
    """The short description of what belongs in each category, in `CATEGORIES` order."""
    path = resources.files("cultureclip.dataset_builder") / "data" / "categories.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    descriptions = {row["category"]: row["description"] for row in rows}
    if tuple(descriptions) != CATEGORIES:
        raise RuntimeError(f"{path} lists {tuple(descriptions)}, expected {CATEGORIES}.")
    return descriptions


def country(code: str) -> Country:
    """The ISO 3166-1 country or territory with this alpha-2 code (case-insensitive)."""
    import pycountry
    import pycountry_convert

    entry = pycountry.countries.get(alpha_2=code.upper()) if isinstance(code, str) and len(code) == 2 else None
    if entry is None:
        raise ValueError(f"Unknown country code {code!r}: use an ISO 3166-1 alpha-2 code such as 'CN' or 'PL'.")
    region = _CONTINENT_OVERRIDES.get(entry.alpha_2)
    if region is None:
        continent = pycountry_convert.country_alpha2_to_continent_code(entry.alpha_2)
        region = pycountry_convert.convert_continent_code_to_continent_name(continent)
    return Country(entry.alpha_2, getattr(entry, "common_name", entry.name), region)


def country_region(code: str) -> str:
    """The continent of a country code, e.g. ``country_region("JP") == "Asia"``."""
    return country(code).region


def countries(codes: list[str] | None = None, regions: list[str] | None = None) -> list[Country]:
    """Every ISO 3166-1 entry, or those with the given codes and/or in the given regions."""
    import pycountry

    if regions is not None:
        unknown = sorted(set(regions) - set(REGIONS))
        if unknown:
            raise ValueError(f"Unknown region(s) {unknown}; choose from {list(REGIONS)}.")
    selected = (
        [country(code) for code in codes]
        if codes is not None
        else [country(entry.alpha_2) for entry in pycountry.countries]
    )
    return [c for c in selected if regions is None or c.region in regions]


def taxonomy(
    codes: list[str] | None = None, regions: list[str] | None = None, categories: list[str] | None = None
) -> list[TaxonomyCell]:
    """The (country, category) cells to ask for concepts, selectable by country, region and category."""
    descriptions = category_descriptions()
    if categories is not None:
        unknown = sorted(set(categories) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"Unknown categories {unknown}; choose from {list(CATEGORIES)}.")
    chosen = [c for c in CATEGORIES if categories is None or c in categories]
    return [TaxonomyCell(c, cat, descriptions[cat]) for c in countries(codes, regions) for cat in chosen]
