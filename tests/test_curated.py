import json
from pathlib import Path

import pytest

from cultureclip.dataset_builder.curated import default_path, few_shot_examples, load_curated, select
from cultureclip.dataset_builder.records import CATEGORIES

SAMPLE = "tests/data/curated_sample.jsonl"
FIRST = Path(SAMPLE).read_text().splitlines(keepends=True)[0]


def test_shipped_list_integrity():
    twins = load_curated()
    assert default_path().name == "curated_twins.jsonl"
    assert len(twins) >= 120
    assert {t.category for t in twins} == set(CATEGORIES)
    countries = {c.country for t in twins for c in (t.pos, t.neg)}
    assert len(countries) >= 40
    assert all(t.pos.category == t.neg.category == t.category for t in twins)


def test_sample_loads_into_concepts_and_twins():
    twins = load_curated(SAMPLE)
    assert [t.twin().twin_id for t in twins][0] == "cn-cuisine-jiaozi--pl-cuisine-pierogi"
    assert twins[1].neg.concept == "Haegeum" and twins[1].neg.country == "KR" and twins[1].neg.source == "curated"
    assert [t.category for t in select(twins, categories=["Art", "Clothing"])] == ["Art", "Clothing"]
    assert [t.pos.country for t in select(twins, regions=["Asia"], limit=2)] == ["CN", "CN"]
    assert select(twins, countries=["jp"])[0].pos.concept == "Pagoda"
    assert [t.pos.concept for t in select(twins, countries=["np"])] == ["Pagoda"]
    assert few_shot_examples(twins, "Architecture", 2)[0].category == "Architecture"
    assert [t.pos.concept for t in few_shot_examples(twins, "Art", 2, exclude_country="CN")] == ["Sari", "Pagoda"]
    # A twin from the asked country is an answer too (Kente cloth wrap, GH, is Sari's twin).
    assert [t.pos.concept for t in few_shot_examples(twins, "Clothing", 2, exclude_country="GH")] == ["Jiaozi", "Erhu"]


def _line(**changes):
    row = json.loads(FIRST)
    for path, value in changes.items():
        side, _, key = path.partition("__")
        if key:
            row[side][key] = value
        else:
            row[side] = value
    return json.dumps(row)


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "is not valid JSON"),
        ('{"category": "Cuisine"}', "exactly the keys"),
        (_line(category="Food"), "category 'Food' is not one of"),
        (_line(neg__country="ZZ"), "Unknown country code 'ZZ'"),
        (_line(neg__country="CN"), "are both from CN"),
        (_line(neg__concept="jiaozi"), "is the concept itself"),
        (_line(pos__context=""), "pos.context must be a non-empty string"),
        (_line(group="Dumplings!"), "group 'Dumplings!' must be a lowercase slug"),
        (_line(extra="x"), "optionally group"),
    ],
)
def test_bad_entries_name_the_line(tmp_path, line, message):
    path = tmp_path / "twins.jsonl"
    path.write_text(FIRST + line + "\n")
    with pytest.raises(ValueError, match=message) as error:
        load_curated(path)
    assert f"{path}:2" in str(error.value) or "ZZ" in str(error.value)


def test_repeated_pair_and_empty_file(tmp_path):
    path = tmp_path / "twins.jsonl"
    first = FIRST
    path.write_text(first + first)
    with pytest.raises(ValueError, match="repeats the pair"):
        load_curated(path)
    path.write_text(FIRST + _line(neg__concept="Mandu", neg__country="KR") + "\n")
    with pytest.raises(ValueError, match=r"'Jiaozi' \(CN\) already has a twin on line 1"):
        load_curated(path)
    path.write_text("\n")
    with pytest.raises(ValueError, match="no twin pairs"):
        load_curated(path)


def test_selection_matches_either_side_of_a_pair():
    """A country or region that only appears as a twin (NG, NZ, PL...) could not be selected."""
    twins = load_curated(SAMPLE)
    assert [t.neg.concept for t in select(twins, countries=["PL"])] == ["Pierogi"]
    assert [t.neg.concept for t in select(twins, countries=["gh"])] == ["Kente cloth wrap"]
    assert [t.pos.concept for t in select(twins, regions=["Africa"])] == ["Sari"]
    assert select(twins, countries=["PL"], categories=["Art"]) == []
    shipped = load_curated()
    both = {c.country for t in shipped for c in (t.pos, t.neg)}
    assert all(select(shipped, countries=[code]) for code in both)


def test_groups_load_and_reach_the_twin_record(tmp_path):
    path = tmp_path / "twins.jsonl"
    path.write_text(
        FIRST + _line(group="dumplings", neg__concept="Mandu", neg__country="KR", pos__concept="Gyoza") + "\n"
    )
    first, second = load_curated(path)
    assert (first.group, second.group) == ("", "dumplings")
    assert first.twin().split_group == first.twin().twin_id
    assert second.twin().group == second.twin().split_group == "dumplings"
