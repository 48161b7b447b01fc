"""The CulTwin builder: splits, rows against the run records, and run folders it must refuse."""

import dataclasses
import json
import shutil
from dataclasses import asdict

import datasets
import pytest
from cultwin_fixtures import FAILED, TWINS, kept_pair_count, write_run
from PIL import Image

from cultureclip.dataset_builder.cultwin import CulTwin, CulTwinConfig, concepts_features, pairs_features, split_twins
from cultureclip.dataset_builder.records import (
    RUN_RECORD,
    Caption,
    Pair,
    Rejection,
    Twin,
    read_records,
    record_path,
    to_json,
)
from cultureclip.dataset_builder.run_data import RunFolderError, load_run


@pytest.fixture
def run_dir(tmp_path):
    return write_run(tmp_path / "run")


def test_split_twins_is_deterministic_disjoint_and_sized():
    ids = [f"t{i:03d}" for i in range(100)]
    splits = split_twins(ids, seed=7, validation_size=0.1, test_size=5)
    assert {k: len(v) for k, v in splits.items()} == {"train": 85, "validation": 10, "test": 5}
    assert sorted(sum(splits.values(), [])) == ids
    assert split_twins(list(reversed(ids)), seed=7, validation_size=0.1, test_size=5) == splits
    assert split_twins(ids, seed=8, validation_size=0.1, test_size=5)["test"] != splits["test"]
    assert set(split_twins(ids, seed=7, validation_size=0, test_size=0)) == {"train"}


@pytest.mark.parametrize(
    ("validation_size", "test_size", "match"),
    [(0.6, 0.4, "leave none for train"), (1.5, 0, r"validation_size=1.5 is not a fraction"), (0, -1, "negative")],
)
def test_split_twins_rejects_bad_sizes(validation_size, test_size, match):
    with pytest.raises(ValueError, match=match):
        split_twins(["a", "b", "c"], 0, validation_size, test_size)


def test_split_twins_keeps_a_group_in_one_split():
    ids = [f"t{i:03d}" for i in range(40)]
    groups = {twin_id: f"g{int(twin_id[1:]) // 4}" for twin_id in ids}  # ten groups of four
    for seed in range(5):
        splits = split_twins(ids, seed, validation_size=0.1, test_size=0.1, groups=groups)
        assert sorted(sum(splits.values(), [])) == ids
        split_of = {twin_id: name for name, members in splits.items() for twin_id in members}
        for group in set(groups.values()):
            assert len({split_of[t] for t, g in groups.items() if g == group}) == 1
        assert {k: len(v) for k, v in splits.items()} == {"train": 32, "validation": 4, "test": 4}
    assert split_twins(list(reversed(ids)), 3, 0.1, 0.1, groups) == split_twins(ids, 3, 0.1, 0.1, groups)


def test_small_build_keeps_a_pair_per_requested_split():
    """The README's 4-pair build: 5% of 4 rounded to 0 and left no test split."""
    splits = split_twins(["a", "b", "c", "d"], 42, validation_size=0.05, test_size=0.05)
    assert {k: len(v) for k, v in splits.items()} == {"train": 2, "validation": 1, "test": 1}
    assert set(split_twins(["a", "b", "c", "d"], 42, validation_size=0, test_size=0.05)) == {"train", "test"}
    with pytest.raises(ValueError, match=r"take 2 of 2 twin pairs \(2 split groups\) and leave none for train"):
        split_twins(["a", "b"], 42, validation_size=0.05, test_size=0.05)
    with pytest.raises(ValueError, match=r"\(2 split groups\) and leave none for train"):
        split_twins(["a", "b", "c"], 42, 0.05, 0.05, groups={"a": "g", "b": "g"})


def test_config_rejects_unknown_name_and_bad_size():
    with pytest.raises(ValueError, match="Unknown CulTwin config 'triples'"):
        CulTwinConfig(name="triples")
    with pytest.raises(ValueError, match="test_size=2.0"):
        CulTwinConfig(name="pairs", test_size=2.0)


def test_builder_rows_match_the_run_records(run_dir, tmp_path):
    splits = {}
    for name in ("pairs", "concepts"):
        builder = CulTwin(
            config_name=name, data_dir=str(run_dir), cache_dir=str(tmp_path / "cache"), validation_size=2, test_size=2
        )
        builder.download_and_prepare()
        splits[name] = builder.as_dataset()
    pairs, concepts = splits["pairs"], splits["concepts"]
    assert pairs["train"].features == pairs_features()
    assert concepts["train"].features == concepts_features()
    assert sum(pairs.num_rows.values()) == kept_pair_count()
    assert sum(concepts.num_rows.values()) == 2 * len(TWINS)
    assert {k: len(set(d["twin_id"])) for k, d in pairs.items()} == {"train": 6, "validation": 2, "test": 2}

    captions = {c.caption_id: c for c in read_records(run_dir, Caption)}
    images = concepts["train"].cast_column("images", datasets.List(datasets.Image(decode=False)))
    concept_rows = {r["concept_id"]: r for r in images}
    for row in pairs["train"]:  # a pair names its images in its split's concepts, with their captions
        pair = next(p for p in read_records(run_dir, Pair) if p.pair_id == row["pair_id"])
        for side in ("pos", "neg"):
            caption_id = getattr(pair, f"{side}_caption_id")
            concept = concept_rows[row[f"{side}_concept_id"]]
            index = row[f"{side}_image_index"]
            assert row[f"{side}_caption"] == concept["captions"][index] == captions[caption_id].text
            assert concept["images"][index]["bytes"] == (run_dir / "images" / f"{caption_id}.png").read_bytes()
    row = pairs["train"][0]
    assert set(row["pos_quality"]) == {"authenticity", "consistency", "cultural_fidelity", "clip_score"}
    assert pairs_features()["category"].int2str(row["category"]) == next(
        t.category for t in read_records(run_dir, Twin) if t.twin_id == row["twin_id"]
    )

    all_concepts = {r["concept_id"]: r for split in concepts.values() for r in split}
    mantou = all_concepts["k00"]
    assert (mantou["concept"], mantou["country"], mantou["region"]) == ("Mantou", "CN", "Asia")
    assert (mantou["twin_concept_id"], mantou["twin_concept"]) == ("k01", "Pão de queijo")
    # k01-c1 failed the quality filter: its twin keeps only the captions used in kept pairs.
    assert len(all_concepts["k01"]["captions"]) == len(all_concepts["k01"]["images"]) == 2
    assert "k01-c1" in FAILED and len(mantou["captions"]) == 3


def _delete_image(run_dir, caption_id="k00-c0"):
    (run_dir / "images" / f"{caption_id}.png").unlink()


def test_missing_and_corrupt_images_are_refused_by_name(run_dir):
    _delete_image(run_dir)
    (run_dir / "images" / "k02-c1.png").write_bytes(b"not a png")
    with pytest.raises(RunFolderError, match="--drop-bad-images") as error:
        load_run(run_dir)
    assert "images/k00-c0.png (caption k00-c0): file missing" in str(error.value)
    assert "images/k02-c1.png (caption k02-c1): does not decode" in str(error.value)


def test_drop_bad_images_drops_and_counts_the_pairs(run_dir):
    _delete_image(run_dir)
    run = load_run(run_dir, drop_bad_images=True)
    assert [b.caption_id for b in run.dropped_images] == ["k00-c0"]
    # k00-c0 was paired with the two kept captions of its twin (k01-c1 failed the filter).
    assert run.dropped_pairs == 2
    assert len(run.pairs) == kept_pair_count() - 2
    assert all("k00-c0" not in (p.pos_caption_id, p.neg_caption_id) for p in run.pairs)


def test_a_changed_run_folder_is_rebuilt_not_read_from_the_cache(run_dir, tmp_path):
    def build(name="pairs"):
        builder = CulTwin(
            config_name=name, data_dir=str(run_dir), cache_dir=str(tmp_path), validation_size=0, test_size=0
        )
        builder.download_and_prepare()
        return builder, builder.as_dataset()["train"]

    first, rows = build()
    assert rows.num_rows == kept_pair_count()
    assert build()[0].cache_dir == first.cache_dir  # unchanged: the cache is reused

    pairs = record_path(run_dir, Pair)
    pairs.write_text("".join(pairs.read_text().splitlines(keepends=True)[:10]))
    captions = record_path(run_dir, Caption)
    captions.write_text(captions.read_text().replace("A photo of", "A picture of"))
    _, rows = build()
    assert rows.num_rows == 10 and rows[0]["pos_caption"].startswith("A picture of")

    image = run_dir / "images" / f"{read_records(run_dir, Pair)[0].pos_caption_id}.png"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(image)
    _, rows = build("concepts")
    rows = rows.cast_column("images", datasets.List(datasets.Image(decode=False)))
    assert rows[0]["images"][0]["bytes"] == image.read_bytes()


def test_builder_splits_by_the_recorded_group_and_reads_runs_without_one(run_dir, tmp_path):
    twins_file = record_path(run_dir, Twin)
    grouped = [dataclasses.replace(t, group="g" if t.twin_id < "t05" else "") for t in read_records(run_dir, Twin)]
    twins_file.write_text("".join(to_json(t) + "\n" for t in grouped))
    for seed in range(4):
        builder = CulTwin(
            config_name="pairs", data_dir=str(run_dir), cache_dir=str(tmp_path / "c"), seed=seed, test_size=1
        )
        builder.download_and_prepare()
        splits = {name: set(rows["twin_id"]) for name, rows in builder.as_dataset().items()}
        assert [name for name, ids in splits.items() if ids & {"t00", "t04"}] in (["train"], ["test"], ["validation"])
        assert {"t00", "t01", "t02", "t03", "t04"} <= next(ids for ids in splits.values() if "t00" in ids)
    # A run folder written before twins had a group (no "group" field) still reads.
    twins_file.write_text(
        "".join(json.dumps({k: v for k, v in asdict(t).items() if k != "group"}) + "\n" for t in grouped)
    )
    assert all(t.group == "" for t in read_records(run_dir, Twin))


def _append(run_dir, record):
    with record_path(run_dir, type(record)).open("a", encoding="utf-8") as file:
        file.write(to_json(record) + "\n")


@pytest.mark.parametrize(
    ("break_run", "match"),
    [
        (lambda d: (d / RUN_RECORD).unlink(), "run.json is missing"),
        (lambda d: (d / RUN_RECORD).write_text("[1, 2]"), "holds a list, expected a JSON object"),
        (lambda d: record_path(d, Pair).write_text(""), "no kept caption pairs in pairs.jsonl: finish the generation"),
        (
            lambda d: (record_path(d, Pair).write_text(""), _append(d, Rejection("pairs", "p-z", "failed-quality"))),
            r"pairs.jsonl: the pairs stage kept none and rejected 1 \(failed-quality: 1\)",
        ),
        (lambda d: _append(d, Pair("p-x", "t00", "k00-c0", "nope")), "pair p-x: unknown neg caption 'nope'"),
        (lambda d: _append(d, Pair("p-y", "t00", "k02-c0", "k01-c0")), "pos caption 'k02-c0' is of concept 'k02'"),
        (lambda d: _append(d, Pair("t00-k00-c0-k01-c0", "t00", "k00-c0", "k01-c0")), "Duplicate pair ids"),
        (lambda d: _append(d, Twin("t99", "k00", "k03", "Cuisine")), r"concept k00: twins \['t00', 't99'\]"),
        (lambda d: _append(d, Caption("k77-c0", "k77", 0, "x")), "caption k77-c0: concept 'k77'"),
        (lambda d: shutil.rmtree(d), "does not exist"),
    ],
)
def test_bad_run_folders_are_refused_with_a_clear_error(run_dir, break_run, match):
    break_run(run_dir)
    with pytest.raises(RunFolderError, match=match):
        load_run(run_dir)


def test_every_pair_uses_a_bad_image(run_dir):
    pairs = read_records(run_dir, Pair)[:1]
    record_path(run_dir, Pair).write_text(to_json(pairs[0]) + "\n")
    _delete_image(run_dir, pairs[0].pos_caption_id)
    with pytest.raises(RunFolderError, match="nothing is left to release"):
        load_run(run_dir, drop_bad_images=True)
    assert json.loads((run_dir / RUN_RECORD).read_text())["models"]
