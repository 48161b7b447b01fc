"""Integrity checks for the hand-curated twin-pair list.

The file holds one JSON object per line. Each object is a pair of real,
visually similar cultural concepts from two different countries and the
same category (see dataset_builder/data/curated_twins.jsonl).
"""

import json
from collections import Counter
from pathlib import Path

import pycountry
import pytest

from cultureclip.dataset_builder.cultwin import split_twins
from cultureclip.dataset_builder.curated import coverage, load_curated, overlaps, select
from cultureclip.dataset_builder.records import CATEGORIES
from cultureclip.dataset_builder.taxonomy import REGIONS

DATA_PATH = Path(__file__).parents[1] / "dataset_builder/data/curated_twins.jsonl"

TOP_KEYS = ["category", "pos", "neg"]
GROUPED_KEYS = ["category", "group", "pos", "neg"]
SIDE_KEYS = ["concept", "country", "context", "visual_features"]
SIDES = ("pos", "neg")

MIN_PER_CATEGORY = 30
MIN_TOTAL = 320
MIN_COUNTRIES = 150
MAX_COUNTRY_SHARE = 0.04
# Shares of the concept slots (two per pair) by taxonomy.country_region (issue 17).
MAX_REGION_SHARE = {"Asia": 0.35}
MIN_REGION_SHARE = {"Africa": 0.15, "Europe": 0.15, "Oceania": 0.05, ("North America", "South America"): 0.15}
MIN_MIDDLE_EAST_SHARE = 0.08
CONTEXT_WORDS = (8, 35)


def _load_lines():
    text = DATA_PATH.read_text(encoding="utf-8")
    return text.splitlines()


@pytest.fixture(scope="module")
def records():
    out = []
    for number, line in enumerate(_load_lines(), start=1):
        assert line.strip(), f"line {number} is blank"
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as err:
            pytest.fail(f"line {number} is not valid JSON: {err}")
    return out


def _sides(records):
    for index, record in enumerate(records, start=1):
        for side in SIDES:
            yield index, side, record[side]


def test_file_exists_and_ends_with_newline():
    assert DATA_PATH.is_file(), f"missing {DATA_PATH}"
    assert DATA_PATH.read_bytes().endswith(b"\n")


def test_every_line_is_a_json_object(records):
    assert records
    for index, record in enumerate(records, start=1):
        assert isinstance(record, dict), f"record {index} is not an object"


def test_exact_keys_in_order(records):
    for index, record in enumerate(records, start=1):
        assert list(record) in (TOP_KEYS, GROUPED_KEYS), f"record {index}: keys {list(record)}"
        for side in SIDES:
            assert isinstance(record[side], dict), f"record {index}: {side}"
            keys = list(record[side])
            assert keys == SIDE_KEYS, f"record {index} {side}: keys {keys}"


def test_all_values_are_clean_strings(records):
    for index, record in enumerate(records, start=1):
        values = [(key, record[key]) for key in ("category", "group") if key in record]
        for side in SIDES:
            values += [(f"{side}.{k}", v) for k, v in record[side].items()]
        for name, value in values:
            assert isinstance(value, str), f"record {index} {name}: not a string"
            assert value, f"record {index} {name}: empty"
            assert value == value.strip(), f"record {index} {name}: whitespace"
            assert "\n" not in value and "\r" not in value, f"record {index} {name}: newline"


def test_categories_are_known(records):
    for index, record in enumerate(records, start=1):
        category = record["category"]
        assert category in CATEGORIES, f"record {index}: {category!r}"


def test_category_and_total_counts(records):
    counts = Counter(record["category"] for record in records)
    assert len(records) >= MIN_TOTAL, f"only {len(records)} pairs"
    for category in sorted(CATEGORIES):
        assert counts[category] >= MIN_PER_CATEGORY, f"{category}: only {counts[category]} pairs"


def test_countries_are_valid_alpha2(records):
    for index, side, entry in _sides(records):
        code = entry["country"]
        assert len(code) == 2 and code.isupper(), f"record {index} {side}: {code!r}"
        assert pycountry.countries.get(alpha_2=code) is not None, f"record {index} {side}: unknown country {code!r}"


def test_pos_and_neg_countries_differ(records):
    for index, record in enumerate(records, start=1):
        assert record["pos"]["country"] != record["neg"]["country"], (
            f"record {index}: both sides from {record['pos']['country']}"
        )


def test_enough_distinct_countries(records):
    countries = {entry["country"] for _, _, entry in _sides(records)}
    assert len(countries) >= MIN_COUNTRIES, f"only {len(countries)} countries"


def test_concepts_unique_case_insensitive(records):
    seen = {}
    for index, side, entry in _sides(records):
        key = entry["concept"].casefold()
        assert key not in seen, f"record {index} {side}: {entry['concept']!r} already used in record {seen[key]}"
        seen[key] = index


def test_pos_and_neg_concepts_differ(records):
    for index, record in enumerate(records, start=1):
        pos = record["pos"]["concept"].casefold()
        neg = record["neg"]["concept"].casefold()
        assert pos != neg, f"record {index}: pos equals neg"


def test_context_word_counts(records):
    low, high = CONTEXT_WORDS
    for index, side, entry in _sides(records):
        words = len(entry["context"].split())
        assert low <= words <= high, f"record {index} {side}: context has {words} words"


def test_visual_features_non_empty(records):
    for index, side, entry in _sides(records):
        features = entry["visual_features"]
        assert features.strip(), f"record {index} {side}: empty visual_features"
        assert len(features.split()) >= 3, f"record {index} {side}: visual_features too short"


@pytest.fixture(scope="module")
def twins():
    return load_curated(DATA_PATH)


def test_coverage_targets(twins):
    stats = coverage(twins)
    assert stats["pairs"] >= MIN_TOTAL and stats["countries"] >= MIN_COUNTRIES, stats
    regions = stats["regions"]
    for region, share in MAX_REGION_SHARE.items():
        assert regions[region] <= share, f"{region} holds {regions[region]:.1%} of the slots"
    for region, share in MIN_REGION_SHARE.items():
        held = sum(regions.get(r, 0) for r in ((region,) if isinstance(region, str) else region))
        assert held >= share, f"{region} holds {held:.1%} of the slots, needs {share:.0%}"
    assert stats["middle_east"] >= MIN_MIDDLE_EAST_SHARE, f"Middle East {stats['middle_east']:.1%}"
    code, share = next(iter(stats["top_countries"].items()))
    assert share <= MAX_COUNTRY_SHARE, f"{code} holds {share:.1%} of the slots"


def test_every_category_in_every_continent(twins):
    cells = coverage(twins)["cells"]
    for region in REGIONS:
        if region != "Antarctica":
            missing = [category for category, count in cells.get(region, {}).items() if count == 0]
            assert region in cells and not missing, f"{region} lacks {missing or 'everything'}"


def test_overlapping_lines_share_a_split_group(twins):
    """The same subject under two names (Hanami / Cherry Blossom) must not cross splits."""
    for i, j, name in overlaps(twins):
        first, second = twins[i], twins[j]
        assert first.group and first.group == second.group, (
            f"records {i + 1} ({first.pos.concept}) and {j + 1} ({second.pos.concept}) both name {name!r}: "
            "give them the same group"
        )
    groups = Counter(t.group for t in twins if t.group)
    assert groups and all(count >= 2 for count in groups.values()), f"groups of one line: {groups}"


def test_overlaps_finds_names_aliases_and_context_mentions(tmp_path):
    rows = [
        {
            "category": "Festival",
            "pos": {
                "concept": "Hanami",
                "country": "JP",
                "context": "Viewing the cherry blossom in spring.",
                "visual_features": "pink trees, picnic tarps",
            },
            "neg": {
                "concept": "Jinhae",
                "country": "KR",
                "context": "A spring festival by the sea.",
                "visual_features": "pink trees, railway",
            },
        },
        {
            "category": "Animals & Plants",
            "pos": {
                "concept": "Cherry Blossom",
                "country": "JP",
                "context": "Flowers of spring in parks.",
                "visual_features": "pale pink petals on branches",
            },
            "neg": {
                "concept": "Plum Blossom",
                "country": "CN",
                "context": "Flowers of late winter.",
                "visual_features": "white and red petals",
            },
        },
        {
            "category": "Art",
            "pos": {
                "concept": "Hang (Handpan)",
                "country": "CH",
                "context": "A steel instrument from Bern.",
                "visual_features": "convex steel shell, dimples",
            },
            "neg": {
                "concept": "Steelpan",
                "country": "TT",
                "context": "A drum from Trinidad.",
                "visual_features": "chrome drum, hammered notes",
            },
        },
        {
            "category": "Daily Life",
            "pos": {
                "concept": "Handpan",
                "country": "DE",
                "context": "A steel instrument played by buskers.",
                "visual_features": "steel shell, ring of notes",
            },
            "neg": {
                "concept": "Gong",
                "country": "ID",
                "context": "A bronze instrument of gamelan.",
                "visual_features": "bronze disc, central boss",
            },
        },
    ]
    path = tmp_path / "twins.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert sorted(overlaps(load_curated(path))) == [(1, 0, "cherry blossom"), (2, 3, "handpan"), (3, 2, "handpan")]


def test_split_by_group_keeps_overlapping_lines_together(twins):
    ids = [t.twin().twin_id for t in twins]
    groups = {t.twin().twin_id: t.twin().split_group for t in twins}
    for seed in range(10):
        splits = split_twins(ids, seed, validation_size=0.05, test_size=0.1, groups=groups)
        split_of = {twin_id: name for name, members in splits.items() for twin_id in members}
        for group in {t.group for t in twins if t.group}:
            members = {split_of[t.twin().twin_id] for t in twins if t.group == group}
            assert len(members) == 1, f"group {group} is in {members} with seed {seed}"


def test_selection_by_either_side_reaches_every_country(twins):
    """33 countries (NG, KE, NZ, PL, MY...) appeared only as twins and could not be selected."""
    countries = {c.country for t in twins for c in (t.pos, t.neg)}
    for code in sorted(countries):
        chosen = select(twins, countries=[code])
        assert chosen and all(code in (t.pos.country, t.neg.country) for t in chosen), code
    only_twins = countries - {t.pos.country for t in twins}
    assert only_twins, "no country appears only as a twin: the test no longer covers the issue"


def test_every_concept_composes_the_embedded_default_captions(twins):
    """configs/cultwin_tiny.yaml composes 3 captions of at most 20 words from each concept's fields:
    a visual_features string of one long clause gives too few."""
    from importlib import resources

    from cultureclip.dataset_builder.captions import compose, compose_templates

    text = (resources.files("cultureclip.dataset_builder") / "prompts" / "caption_compose.txt").read_text()
    templates, failed = compose_templates(text), []
    for twin in twins:
        for concept in (twin.pos, twin.neg):
            try:
                compose(concept, templates, 3, 20)
            except ValueError:
                failed.append(concept.concept)
    assert not failed, f"too few composed captions for {failed}"
