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

from cultureclip.dataset_builder.records import CATEGORIES

DATA_PATH = Path(__file__).parents[1] / "dataset_builder/data/curated_twins.jsonl"

TOP_KEYS = ["category", "pos", "neg"]
SIDE_KEYS = ["concept", "country", "context", "visual_features"]
SIDES = ("pos", "neg")

MIN_PER_CATEGORY = 14
MIN_TOTAL = 130
MIN_COUNTRIES = 45
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
        assert list(record) == TOP_KEYS, f"record {index}: keys {list(record)}"
        for side in SIDES:
            assert isinstance(record[side], dict), f"record {index}: {side}"
            keys = list(record[side])
            assert keys == SIDE_KEYS, f"record {index} {side}: keys {keys}"


def test_all_values_are_clean_strings(records):
    for index, record in enumerate(records, start=1):
        values = [("category", record["category"])]
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
