"""The curated twin list: hand-checked twin pairs shipped in ``data/curated_twins.jsonl``.

One JSON object per line::

    {"category": "Cuisine",
     "pos": {"concept": "Jiaozi", "country": "CN", "context": "...", "visual_features": "..."},
     "neg": {"concept": "Pierogi", "country": "PL", "context": "...", "visual_features": "..."}}

An optional ``"group"`` key (after ``category``) names lines about the same subject, such as a
festival and the blossom it celebrates: the dataset splits by group, so they never land in two
splits. A line without one is a group of its own.

It is the embedded default's concept source, the few-shot examples of the prompts, and test data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .records import CATEGORIES, Concept, Twin

SIDE_FIELDS = ("concept", "country", "context", "visual_features")
MIDDLE_EAST = frozenset(
    # UN M49 Western Asia
    ("AE", "AM", "AZ", "BH", "CY", "GE", "IL", "IQ", "JO", "KW", "LB", "OM", "PS", "QA", "SA", "SY", "TR", "YE")
    # UN M49 Northern Africa
    + ("DZ", "EG", "EH", "LY", "MA", "SD", "TN")
)
"""The Middle East as the coverage statistics count it: West Asia and North Africa (UN M49)."""
_KEYS = ({"category", "pos", "neg"}, {"category", "group", "pos", "neg"})


@dataclass(frozen=True)
class CuratedTwin:
    category: str
    pos: Concept
    neg: Concept
    group: str = ""
    """The split group shared with overlapping lines; ``""``: a group of its own."""

    def twin(self) -> Twin:
        ids = (self.pos.concept_id, self.neg.concept_id)
        return Twin(twin_id(*ids), *ids, self.category, self.group)


# Latin letters that Unicode does not decompose into an ASCII letter and a mark.
TRANSLITERATION = str.maketrans(
    {"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L", "đ": "d"}
    | {"Đ": "D", "ı": "i", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "ħ": "h", "Ħ": "H", "ŋ": "ng", "Ŋ": "Ng"}
)


def slug(text: str) -> str:
    """``"Jiaozi (boiled)"`` -> ``"jiaozi-boiled"``: lowercase ASCII words joined by dashes.

    Accents are dropped (``"Crème brûlée"`` -> ``"creme-brulee"``) and Latin letters without an
    accent form are transliterated (``"Smørrebrød"`` -> ``"smorrebrod"``). A name with letters or
    digits that have no ASCII form (``"饺子"``), or with none at all, gets the first 8 hex digits of
    the SHA-256 of its NFC form as a suffix, so distinct names keep distinct, stable slugs
    (``"饺子"`` -> ``"f00ffdf5"``).
    """
    import hashlib
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.translate(TRANSLITERATION))
    base = re.sub(r"[^a-z0-9]+", "-", decomposed.encode("ascii", "ignore").decode().lower()).strip("-")
    lost = [c for c in decomposed if not c.isascii() and unicodedata.category(c)[0] in "LN"]
    if base and not lost:
        return base
    suffix = hashlib.sha256(unicodedata.normalize("NFC", text).encode("utf-8")).hexdigest()[:8]
    return f"{base}-{suffix}" if base else suffix


def concept_id(country: str, category: str, name: str) -> str:
    return f"{country.lower()}-{slug(category)}-{slug(name)}"


def concept_key(concept: Concept) -> str:
    """What makes two concepts the same, ``country-category-slug``: the concept id without the
    ``row<N>-`` prefix that bottom-up concepts carry."""
    return concept_id(concept.country, concept.category, concept.concept)


def twin_id(pos_concept_id: str, neg_concept_id: str) -> str:
    return f"{pos_concept_id}--{neg_concept_id}"


def default_path() -> Path:
    return Path(str(resources.files("cultureclip.dataset_builder") / "data" / "curated_twins.jsonl"))


def _side(data, where: str, category: str) -> Concept:
    from .taxonomy import country

    if not isinstance(data, dict) or set(data) != set(SIDE_FIELDS):
        raise ValueError(f"{where} must be an object with exactly the fields {list(SIDE_FIELDS)}, got {data!r}.")
    for name in SIDE_FIELDS:
        if not isinstance(data[name], str) or not data[name].strip():
            raise ValueError(f"{where}.{name} must be a non-empty string, got {data[name]!r}.")
    code = country(data["country"]).code
    return Concept(
        concept_id(code, category, data["concept"]),
        data["concept"].strip(),
        code,
        category,
        data["context"].strip(),
        data["visual_features"].strip(),
        "curated",
    )


def load_curated(path: str | Path | None = None) -> list[CuratedTwin]:
    """Reads and validates the curated twin list (default: the shipped one).

    Raises:
        ValueError: naming the file and line of a malformed entry, an unknown category or country
            code, a twin equal to its concept or from the same country, a repeated pair, or a concept
            in two pairs.
    """
    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        raise FileNotFoundError(f"curated twin list {path} does not exist.")
    twins, seen, twinned = [], set(), {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where} is not valid JSON ({error}).") from None
        if not isinstance(data, dict) or set(data) not in _KEYS:
            raise ValueError(f"{where} must have exactly the keys category, pos, neg (and optionally group).")
        group = data.get("group", "")
        if "group" in data and (not isinstance(group, str) or slug(group) != group):
            raise ValueError(f"{where}: group {group!r} must be a lowercase slug such as 'cherry-blossom'.")
        if data["category"] not in CATEGORIES:
            raise ValueError(f"{where}: category {data['category']!r} is not one of {list(CATEGORIES)}.")
        pos, neg = (_side(data[side], f"{where} {side}", data["category"]) for side in ("pos", "neg"))
        if pos.concept.lower() == neg.concept.lower():
            raise ValueError(f"{where}: the twin {neg.concept!r} is the concept itself.")
        if pos.country == neg.country:
            raise ValueError(f"{where}: {pos.concept!r} and {neg.concept!r} are both from {pos.country}.")
        key = (pos.concept_id, neg.concept_id)
        if key in seen:
            raise ValueError(f"{where} repeats the pair {pos.concept!r} / {neg.concept!r}.")
        seen.add(key)
        for concept in (pos, neg):
            if concept.concept_id in twinned:
                raise ValueError(
                    f"{where}: {concept.concept!r} ({concept.country}) already has a twin on line "
                    f"{twinned[concept.concept_id]}; each concept has exactly one twin."
                )
            twinned[concept.concept_id] = number
        twins.append(CuratedTwin(data["category"], pos, neg, group))
    if not twins:
        raise ValueError(f"{path} has no twin pairs.")
    return twins


def select(
    twins: list[CuratedTwin],
    countries: list[str] | None = None,
    regions: list[str] | None = None,
    categories: list[str] | None = None,
    limit: int | None = None,
) -> list[CuratedTwin]:
    """The pairs of the given categories with either concept in the given countries and regions."""
    from .config import SelectionConfig
    from .taxonomy import country_region

    selection = SelectionConfig(countries, regions, categories, limit)
    region_of = {code: country_region(code) for code in {c.country for t in twins for c in (t.pos, t.neg)}}

    def selected(twin: CuratedTwin) -> bool:
        sides = (twin.pos.country, twin.neg.country)
        return any(selection.excluded(code, region_of[code], twin.category) is None for code in sides)

    chosen = [t for t in twins if selected(t)]
    return chosen[:limit] if limit is not None else chosen


def names(concept: Concept) -> set[str]:
    """A concept's name and its aliases, casefolded: ``"Krok (Thai Mortar)"`` ->
    ``{"krok (thai mortar)", "krok", "thai mortar"}``."""
    name = concept.concept.casefold()
    aliases = re.findall(r"\(([^)]*)\)", name)
    return {name, re.sub(r"\s*\([^)]*\)", "", name).strip(), *(a.strip() for a in aliases)}


def overlaps(twins: list[CuratedTwin]) -> list[tuple[int, int, str]]:
    """Lines about the same subject: ``(i, j, name)`` where a concept name or alias of line ``i``
    is the name, an alias or a phrase of the context of a concept on line ``j`` (0-based, i != j).

    Such lines must share a group, or a near-duplicate of a test concept would be trained on.
    """
    line_names = [{n for c in (t.pos, t.neg) for n in names(c)} for t in twins]
    contexts = [" | ".join(c.context.casefold() for c in (t.pos, t.neg)) for t in twins]
    found = []
    for i, own in enumerate(line_names):
        for name in sorted(own):
            pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
            for j, context in enumerate(contexts):
                mentioned = name in context and pattern.search(context)
                if j != i and (name in line_names[j] or mentioned):
                    found.append((i, j, name))
    return found


def few_shot_examples(
    twins: list[CuratedTwin], category: str | None, count: int = 2, exclude_country: str | None = None
) -> list[CuratedTwin]:
    """Examples for a prompt: pairs of the same category first, in list order, none with a concept
    from ``exclude_country`` on either side (so the model is not shown an answer for the very item
    it is asked)."""
    twins = [t for t in twins if exclude_country not in (t.pos.country, t.neg.country)]
    same = [t for t in twins if t.category == category]
    other = [t for t in twins if t.category != category]
    return (same + other)[:count]


def coverage(twins: list[CuratedTwin]) -> dict:
    """How the concept slots (two per pair) spread over the world, by `taxonomy.country_region`.

    Returns:
        A dict with ``pairs``, ``slots``, ``countries`` (count), ``regions`` (region -> share of
        the slots), ``middle_east`` (share, see `MIDDLE_EAST`), ``top_countries`` (the five
        largest, code -> share) and ``cells`` (region -> category -> slots, every category listed).
    """
    from collections import Counter

    from .taxonomy import country_region

    concepts = [c for t in twins for c in (t.pos, t.neg)]
    slots = len(concepts)
    regions = Counter(country_region(c.country) for c in concepts)
    per_country = Counter(c.country for c in concepts)
    cells = Counter((country_region(c.country), c.category) for c in concepts)
    return {
        "pairs": len(twins),
        "slots": slots,
        "countries": len(per_country),
        "regions": {region: count / slots for region, count in sorted(regions.items())},
        "middle_east": sum(c.country in MIDDLE_EAST for c in concepts) / slots,
        "top_countries": {code: count / slots for code, count in per_country.most_common(5)},
        "cells": {
            region: {category: cells[region, category] for category in CATEGORIES} for region in sorted(regions)
        },
    }
