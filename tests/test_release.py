"""The release folder: what `load_dataset` reads in a fresh process, the card, the statistics."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter

import pyarrow.parquet as pq
import pytest
from cultwin_fixtures import TWINS, kept_pair_count, write_run
from huggingface_hub import DatasetCard
from PIL import Image

from cultureclip import CULTWIN_REPO_ID
from cultureclip.cli import main
from cultureclip.dataset_builder.card import render_card
from cultureclip.dataset_builder.config import CaptionConfig, GenerationConfig, QualityConfig
from cultureclip.dataset_builder.records import CATEGORIES, RUN_RECORD, Pair, read_records
from cultureclip.dataset_builder.release import ReleaseConfig, build_release
from cultureclip.dataset_builder.taxonomy import country_region
from cultureclip.output_dirs import MARKER
from cultureclip.schemas import RunRecord

# Runs in a new process with no project code: only the release folder, `datasets` and the card's
# loading snippet (its repo id replaced by the folder), which puts the images into the pair rows.
RELOAD = textwrap.dedent(
    """
    import hashlib, json, re, sys
    from datasets import Image, load_dataset

    card = open(sys.argv[1] + "/README.md", encoding="utf-8").read()
    snippet = re.search("```python\\n(.*?)```", card, re.S).group(1).replace(f'"{sys.argv[2]}"', repr(sys.argv[1]))
    out = {}
    for name in ("pairs", "concepts"):
        splits = load_dataset(sys.argv[1], name) if name == "concepts" else load_dataset(sys.argv[1])
        rows = {}
        for split, data in splits.items():
            if name == "pairs":
                scope = {}
                exec(snippet.replace('split="train"', f"split={split!r}"), scope)
                data = scope["pairs"]
            else:
                data = data.cast_column("images", [Image(decode=False)])
            rows[split] = [
                {k: (hashlib.sha256(v.tobytes()).hexdigest() if k.endswith("_image") else v) for k, v in row.items()
                 if k != "images"} | ({"image_hashes": [hashlib.sha256(im["bytes"]).hexdigest() for im in row["images"]]} if name == "concepts" else {})
                for row in data
            ]
        out[name] = {"rows": rows, "features": {k: str(v) for k, v in splits["train"].features.items()}}
    print(json.dumps(out))
    """
)


def _pixel_hash(path) -> str:
    with Image.open(path) as image:
        return hashlib.sha256(image.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    run_dir = write_run(root / "run")
    images = sorted((run_dir / "images").glob("*.png"))
    hashes = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in images}
    pixel_hashes = {p.stem: _pixel_hash(p) for p in images}
    result = build_release(run_dir, root / "out", ReleaseConfig(seed=3, validation_size=2, test_size=0.2))
    shutil.rmtree(run_dir / "images")
    env = {**os.environ, "HF_DATASETS_CACHE": str(root / "cache"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    reloaded = subprocess.run(
        [sys.executable, "-c", RELOAD, str(root / "out"), CULTWIN_REPO_ID],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert reloaded.returncode == 0, reloaded.stderr[-3000:]
    return {
        "result": result,
        "out": root / "out",
        "hashes": hashes,
        "pixel_hashes": pixel_hashes,
        "pairs": {p.pair_id: p for p in read_records(run_dir, Pair)},
        "loaded": json.loads(reloaded.stdout),
    }


def test_release_layout_and_row_counts(release):
    out = release["out"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        ["README.md", "preview.png", MARKER]
        + [f"{c}/{s}-00000-of-00001.parquet" for c in ("pairs", "concepts") for s in ("train", "validation", "test")]
    )
    loaded = release["loaded"]
    assert {s: len(r) for s, r in loaded["pairs"]["rows"].items()} == release["result"].num_rows["pairs"]
    assert sum(len(r) for r in loaded["pairs"]["rows"].values()) == kept_pair_count()
    assert sum(len(r) for r in loaded["concepts"]["rows"].values()) == 2 * len(TWINS)
    assert "ClassLabel" in loaded["pairs"]["features"]["category"]
    assert "int32" in loaded["pairs"]["features"]["pos_image_index"]
    assert "Image" in loaded["concepts"]["features"]["images"]


def test_every_image_is_stored_once(release):
    out = release["out"]
    stored = [
        image["bytes"]
        for path in out.glob("*/*.parquet")
        for table in [pq.read_table(path)]
        for column in table.column_names
        if column == "images" or column.endswith("_image")
        for images in table[column].to_pylist()
        for image in (images if isinstance(images, list) else [images])
    ]
    assert len(stored) == len(set(stored)) == len(release["hashes"]) - 2  # all but the 2 failing images
    schema = pq.read_schema(next(out.glob("pairs/*.parquet")))
    assert not [f.name for f in schema if "binary" in str(f.type)]  # pairs hold text and positions only


def test_images_reload_identical_without_the_run_folder(release):
    hashes, pixels = release["hashes"], release["pixel_hashes"]
    for rows in release["loaded"]["pairs"]["rows"].values():
        for row in rows:  # expanded by the card's snippet
            pair = release["pairs"][row["pair_id"]]
            assert row["pos_image"] == pixels[pair.pos_caption_id]
            assert row["neg_image"] == pixels[pair.neg_caption_id]
    for rows in release["loaded"]["concepts"]["rows"].values():
        for row in rows:
            assert len(row["image_hashes"]) == len(row["captions"])
            assert set(row["image_hashes"]) <= set(hashes.values())


def test_splits_are_made_by_twin_pair(release):
    loaded = release["loaded"]
    twins = {split: {r["twin_id"] for r in rows} for split, rows in loaded["pairs"]["rows"].items()}
    assert {s: len(t) for s, t in twins.items()} == {"train": 6, "validation": 2, "test": 2}
    concepts = {
        split: {r[k] for r in rows for k in ("pos_concept_id", "neg_concept_id")}
        for split, rows in loaded["pairs"]["rows"].items()
    }
    for a in concepts:
        for b in concepts:
            if a != b:
                assert not twins[a] & twins[b] and not concepts[a] & concepts[b]
    for split, rows in loaded["concepts"]["rows"].items():
        assert {r["concept_id"] for r in rows} == concepts[split]


def test_the_same_seed_gives_the_same_split(release, tmp_path):
    run_dir = write_run(tmp_path / "run")
    again = build_release(run_dir, tmp_path / "out", ReleaseConfig(seed=3, validation_size=2, test_size=0.2))
    assert again.statistics == release["result"].statistics

    def twins(out):
        return {
            p.name: sorted(set(pq.read_table(p, columns=["twin_id"])["twin_id"].to_pylist()))
            for p in out.glob("pairs/*")
        }

    assert twins(tmp_path / "out") == twins(release["out"])
    other = build_release(run_dir, tmp_path / "other", ReleaseConfig(seed=4, validation_size=2, test_size=0.2))
    assert twins(tmp_path / "other") != twins(release["out"])
    assert other.num_rows["concepts"] == {"train": 12, "validation": 4, "test": 4}


def test_card_yaml_parses_and_describes_the_release(release):
    card = DatasetCard.load(release["out"] / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "cc-by-4.0"
    assert data["pretty_name"] == "CulTwin"
    assert data["size_categories"] == ["n<1K"] or data["size_categories"] == "n<1K"
    configs = {c["config_name"]: c for c in data["configs"]}
    assert configs["pairs"]["default"] is True
    assert {f["split"]: f["path"] for f in configs["concepts"]["data_files"]}["test"] == "concepts/test-*.parquet"
    infos = {i["config_name"]: i for i in data["dataset_info"]}
    assert infos["pairs"]["features"][4]["dtype"]["class_label"]["names"]["6"] == "Animals & Plants"
    text = card.text
    for needed in (
        "## Limitations and bias",
        "Synthetic images",
        "Stereotypes",
        "Model-written facts",
        "@article{huang2025cultureclip",
        "## License",
        "(preview.png)",
        f'load_dataset("{CULTWIN_REPO_ID}", split="train")',
        f'load_dataset("{CULTWIN_REPO_ID}", "concepts", split="train")',
    ):
        assert needed in text
    # The run record is shown as recorded: models, prompts, sampling, seeds, per-stage summary.
    for recorded in ("tiny-models/diffusion", "Write {n} captions", '"temperature": 0.7', "| twins | 12 | 10 |"):
        assert recorded in text


def test_card_of_a_curated_composed_unscored_run_says_so(tmp_path):
    """The demo's method: the curated twin list, captions composed from templates, no VLM scores."""
    run_dir = write_run(tmp_path / "run")
    record = json.loads((run_dir / RUN_RECORD).read_text())
    record["config"] = GenerationConfig(
        source="curated",
        captions=CaptionConfig(mode="compose"),
        quality=QualityConfig(vlm_scores=False, clip_model="tiny-models/clip"),
    ).to_dict()
    (run_dir / RUN_RECORD).write_text(json.dumps(record))
    build_release(run_dir, tmp_path / "out", ReleaseConfig(test_size=2))
    text = DatasetCard.load(tmp_path / "out" / "README.md").text
    for said in (
        "the project's hand-curated twin list",
        "The run used no model for this step",
        "composed from each concept's own name, country, context and visual features with\n   fixed templates",
        "**No quality filter.** No vision-language model scored the images",
        "each image's CLIP-score with its caption is recorded, not used",
        "no quality filter checked them",
        "**Curated concepts.**",
        "**Template captions.**",
        "way: the text-to-image model reproduces the views of its training data.",
        "The images were produced with the models named in the run record",
    ):
        assert said in text, said
    for false in (
        "Model-written facts",
        "no person checked them",
        "a language model writes",
        "taxonomy",
        "the paper's rule",
        "scored images passed",
        "model-written texts",
    ):
        assert false not in text, false


@pytest.mark.parametrize(
    "config, said, unsaid",
    [
        (
            {"source": "curated", "curated_path": "my-twins.jsonl", "text_model": {"model": "llm"}},
            [
                "the curated twin list `my-twins.jsonl`",
                "a language model writes captions",
                "A language model\n  wrote the captions, and no person checked them.",
                "none of the vision-language model's three scores",
                "come from a curated list",
            ],
            ["hand-curated", "Template captions", "concept names, contexts"],
        ),
        (
            {
                "source": "top-down",
                "text_model": {"model": "llm"},
                "quality": {"min_clip_score": 20.0, "clip_model": "c"},
            },
            [
                "a language model writes concepts for each cell of a taxonomy",
                "a language model proposes one twin",
                "wrote the concept names, contexts and visual features, the twins and the captions, and no person",
                "(the paper's rule) and its CLIP-score with its caption is at least 20.0;",
                "The images and the\nmodel-written texts were produced",
            ],
            ["Curated concepts", "No quality filter"],
        ),
        (
            {
                "source": "bottom-up",
                "text_model": {"model": "llm"},
                "bottom_up": {"dataset": "wikimedia/wit_base"},
                "quality": {"vlm_scores": False, "min_clip_score": 20.0, "clip_model": "c"},
            },
            [
                "the image-text corpus\n   `wikimedia/wit_base`",
                "Language and vision-language models\n  wrote the concept names",
                "An image passes when its CLIP-score with its caption is at least 20.0;",
            ],
            ["paper's rule", "Curated concepts", "taxonomy"],
        ),
    ],
)
def test_card_follows_the_recorded_method(release, config, said, unsaid):
    card = DatasetCard.load(release["out"] / "README.md")
    record = {"config": GenerationConfig.from_dict(config).to_dict()}
    text = render_card(card.data, release["result"].statistics, RunRecord.from_dict(record)).text
    for sentence in said:
        assert sentence in text, sentence
    for sentence in unsaid:
        assert sentence not in text, sentence


def test_card_of_a_run_without_a_generation_config_claims_no_method(release):
    """A run folder written by other code (TwinWorld's records procedural renders) gets no
    sentence about language models, text-to-image models or VLM scores it did not use."""
    card = DatasetCard.load(release["out"] / "README.md")
    record = {"config": {"seed": 0, "stream": "train"}, "models": {"images": "procedural renders"}}
    text = render_card(card.data, release["result"].statistics, RunRecord.from_dict(record)).text
    for said in (
        "holds no generation config that `cultureclip generate` of this\nversion reads",
        "58 of 60 scored images passed (96.7%).\nThe run record below states the rule;",
        "**Synthetic data.** The images and texts were made by the process the run record describes",
        "Concepts may be shown in a stereotyped or exoticized way.",
        "The terms of any model the\nrun record above names also apply to its outputs.",
        "procedural renders",
    ):
        assert said in text, said
    for claim in ("a language model", "A language model", "text-to-image", "paper's rule", "curated", "templates"):
        assert claim not in text, claim


def test_statistics_match_the_data(release):
    loaded, stats = release["loaded"], release["result"].statistics
    pairs = [r for rows in loaded["pairs"]["rows"].values() for r in rows]
    concepts = [r for rows in loaded["concepts"]["rows"].values() for r in rows]
    assert stats["pairs"] == len(pairs)
    assert stats["twin_pairs"] == len({r["twin_id"] for r in pairs})
    assert stats["concepts"] == len(concepts)
    assert stats["countries"] == len({r["country"] for r in concepts})
    per_category = Counter(CATEGORIES[r["category"]] for r in pairs)
    assert {c: s["pairs"] for c, s in stats["categories"].items()} == per_category
    assert set(per_category) == set(CATEGORIES)
    per_region = Counter(r["region"] for r in concepts)
    assert {r: s["concepts"] for r, s in stats["regions"].items()} == per_region
    assert all(r["region"] == country_region(r["country"]) for r in concepts)
    assert stats["filter"] | {"image_pass_rate": round(stats["filter"]["image_pass_rate"], 4)} == {
        "images_scored": 60,
        "images_passed": 58,
        "image_pass_rate": 0.9667,
        "dropped_bad_images": 0,
        "dropped_pairs": 0,
    }
    assert stats["rejections"] == {
        "quality": {"failed_filter": 2},
        "twins": {"same_country": 1, "malformed_output": 1},
    }
    text = (release["out"] / "README.md").read_text()
    assert f"{len(pairs)} caption pairs from {stats['twin_pairs']} twin pairs" in text
    for category, count in per_category.items():
        assert f"| {category} | {count} |" in text
    assert "58 of 60 scored images passed (96.7%)" in text
    coverage = Counter((r["region"], CATEGORIES[r["category"]]) for r in concepts)
    assert stats["coverage"] == {
        region: {category: coverage[region, category] for category in CATEGORIES} for region in per_region
    }
    assert f"| region | {' | '.join(CATEGORIES)} |" in text
    for region, counts in stats["coverage"].items():
        assert f"| {region} | {' | '.join(map(str, counts.values()))} |" in text


def test_preview_grid_shows_twin_pairs(release):
    with Image.open(release["out"] / "preview.png") as preview:
        width, height = preview.size
    assert width > height / 2 > 0 and height >= 2 * 192


def test_build_refuses_a_non_empty_output_dir(release, tmp_path):
    run_dir = write_run(tmp_path / "run")
    with pytest.raises(ValueError, match="not empty"):
        build_release(run_dir, release["out"])


def test_build_dataset_command(tmp_path, capsys):
    run_dir = write_run(tmp_path / "run")
    (run_dir / "images" / "k04-c2.png").write_bytes(b"\x89PNG broken")
    assert main(["build-dataset", str(run_dir), "--output-dir", str(tmp_path / "refused")]) == 2
    assert "images/k04-c2.png (caption k04-c2): does not decode" in capsys.readouterr().err
    assert not (tmp_path / "refused" / "README.md").exists()

    args = ["build-dataset", str(run_dir), "--output-dir", str(tmp_path / "out"), "--drop-bad-images"]
    assert main([*args, "--validation-size", "0.1", "--test-size", "1", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "dropped 1 bad image(s) and 3 pair(s)" in out and "k04-c2" in out
    assert "pairs     train " in out
    assert (
        "1 missing or corrupt\nimages were dropped at build time, with the 3 caption pairs"
        in (tmp_path / "out" / "README.md").read_text()
    )


def test_large_splits_are_sharded(tmp_path, monkeypatch):
    from cultureclip.dataset_builder.cultwin import CulTwin
    from cultureclip.dataset_builder.validate import validate_release

    monkeypatch.setattr(CulTwin, "DEFAULT_WRITER_BATCH_SIZE", 4)  # lets a tiny split reach the shard size
    out = tmp_path / "out"
    result = build_release(write_run(tmp_path / "run"), out, ReleaseConfig(test_size=2, max_shard_size=8000))
    shards = sorted(p.name for p in (out / "pairs").glob("train-*.parquet"))
    assert len(shards) > 1 and shards[-1].endswith(f"-of-{len(shards):05d}.parquet")
    report = validate_release(out, tokenizer=None)
    assert report.ok, report.format()
    assert report.num_rows == result.num_rows


def test_card_states_the_download_size_of_each_configuration(release):
    """``download_size`` is what users download: the configuration's Parquet files (datasets leaves it 0)."""
    card = DatasetCard.load(release["out"] / "README.md")
    for info in card.data.to_dict()["dataset_info"]:
        files = (release["out"] / info["config_name"]).glob("*.parquet")
        assert info["download_size"] == sum(path.stat().st_size for path in files) > 0
