"""TwinWorld: the world, its renders and its run folder (fast checks; the experiment is slow-marked)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.twinworld.render import Difficulty, mark_center
from benchmarks.twinworld.run_folder import write_run_folder
from benchmarks.twinworld.samples import draw_sample, draw_tile
from benchmarks.twinworld.world import (
    COLOURS,
    CULTURES,
    GENERIC_TEMPLATES,
    KINDS,
    PATTERNS,
    concepts,
    generic_caption,
    tile_caption,
    twin_pairs,
)
from cultureclip.dataset_builder import records
from cultureclip.dataset_builder.records import CATEGORIES
from cultureclip.dataset_builder.run_data import load_run
from cultureclip.dataset_builder.taxonomy import country

DIFFICULTY = Difficulty()


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_world_covers_every_category_and_pairs_each_concept_once():
    assert sorted(k.category for k in KINDS) == sorted(CATEGORIES)
    pairs = twin_pairs()
    members = [c.concept_id for p in pairs for c in (p.pos, p.neg)]
    assert sorted(members) == sorted(c.concept_id for c in concepts())
    for pair in pairs:
        assert pair.pos.kind == pair.neg.kind
        assert pair.pos.culture.group == pair.neg.culture.group
        assert pair.pos.culture != pair.neg.culture
    assert len({c.country for c in CULTURES}) == len(CULTURES)
    assert all(country(c.country).code == c.country for c in CULTURES)


def test_same_seed_same_image_and_other_seed_other_image():
    first = pixels(draw_sample(3, "finetune", 7, DIFFICULTY).image(DIFFICULTY))
    again = pixels(draw_sample(3, "finetune", 7, DIFFICULTY).image(DIFFICULTY))
    other = pixels(draw_sample(4, "finetune", 7, DIFFICULTY).image(DIFFICULTY))
    assert first.shape == (48, 48, 3)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("index", range(6))
def test_twins_differ_only_around_the_mark(index):
    pair = twin_pairs()[index * 5 % len(twin_pairs())]
    sample = draw_sample(0, "twins", index, DIFFICULTY, concept=pair.pos)
    pos, neg = pixels(sample.image(DIFFICULTY)), pixels(sample.image(DIFFICULTY, concept=pair.neg))
    changed = np.abs(pos - neg).sum(-1) > 0
    assert changed.any()
    ys, xs = np.nonzero(changed)
    cx, cy = mark_center(pair.pos.kind.name, sample.params)
    # The mark's radius in pixels, plus the resampling filters' reach.
    reach = DIFFICULTY.mark_radius * np.sqrt(2) * sample.params.scale + 3
    assert np.hypot(xs + 0.5 - cx, ys + 0.5 - cy).max() <= reach
    assert changed.mean() < 0.08


def test_heldout_renders_are_new_images_of_the_same_concepts():
    pair = twin_pairs()[0]
    train = [draw_sample(0, f"finetune/{pair.twin_id}", i, DIFFICULTY, concept=pair.pos) for i in range(20)]
    heldout = [draw_sample(0, f"heldout/{pair.twin_id}", i, DIFFICULTY, concept=pair.pos) for i in range(20)]
    train_pixels = [pixels(s.image(DIFFICULTY)) for s in train]
    for sample in heldout:
        image = pixels(sample.image(DIFFICULTY))
        assert min(np.abs(image - other).mean() for other in train_pixels) > 5
    assert not {s.params for s in train} & {s.params for s in heldout}


def test_generic_captions_never_name_a_culture_or_its_mark():
    words = {c.name.lower() for c in CULTURES} | {w for c in CULTURES for w in c.mark_words.split()}
    words -= {"a"}
    for kind in KINDS:
        for colour in COLOURS:
            for pattern in PATTERNS:
                for template in range(len(GENERIC_TEMPLATES)):
                    caption = generic_caption(kind, colour, pattern, template).lower()
                    assert not set(caption.strip(".").replace(",", "").split()) & words, caption
    # Shape tiles name marks (generic shapes) but never a culture or an object kind.
    cultures = {c.name.lower() for c in CULTURES}
    for index in range(50):
        tile = draw_tile(0, "pretrain", index, DIFFICULTY)
        caption = tile_caption(tile.mark_words, tile.colour, tile.pattern, tile.template).lower()
        assert tile.mark_words in caption
        assert not set(caption.strip(".").split()) & (cultures | {k.name for k in KINDS}), caption


def test_difficulty_rejects_bad_values():
    with pytest.raises(ValueError, match="mark_radius"):
        Difficulty(mark_radius=0.5)
    with pytest.raises(ValueError, match="noise_sigma"):
        Difficulty(noise_sigma=(5.0, 1.0))


def test_run_folder_is_a_valid_generation_run(tmp_path):
    run_dir = write_run_folder(tmp_path / "run", seed=0, images_per_concept=2, difficulty=DIFFICULTY)
    run = load_run(run_dir)
    assert len(run.concepts) == len(concepts())
    assert len(run.twins) == len(twin_pairs())
    assert len(run.pairs) == 2 * len(twin_pairs())
    for pair in run.pairs:
        pos, neg = run.captions[pair.pos_caption_id], run.captions[pair.neg_caption_id]
        twin = run.twins[pair.twin_id]
        assert (pos.concept_id, neg.concept_id) == (twin.pos_concept_id, twin.neg_concept_id)
        assert pos.index == neg.index
        pos_pixels, neg_pixels = (
            pixels(_open(run.image_path(pos.caption_id))),
            pixels(_open(run.image_path(neg.caption_id))),
        )
        assert 0 < (np.abs(pos_pixels - neg_pixels).sum(-1) > 0).mean() < 0.08
    assert {c.category for c in run.concepts.values()} == set(CATEGORIES)
    assert records.read_records(run_dir, records.Rejection) == []
    with pytest.raises(FileExistsError, match="not empty"):
        write_run_folder(run_dir, seed=0, images_per_concept=1, difficulty=DIFFICULTY)


def _open(path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def test_summary_table_and_plot_of_results(tmp_path):
    from benchmarks.twinworld.experiment import summarize
    from benchmarks.twinworld.report import COLUMNS, plot, table

    def metrics(value):
        return dict.fromkeys(COLUMNS, value)

    runs = [
        {"variant": "cultureclip", "seed": 0, "metrics": metrics(0.8)},
        {"variant": "cultureclip", "seed": 1, "metrics": metrics(0.9)},
        {"variant": "caption_clip", "seed": 0, "metrics": metrics(0.6)},
    ]
    summary = summarize(runs)
    assert summary["cultureclip"]["twin_concept_seen"] == pytest.approx({"mean": 0.85, "std": 0.0707107, "n": 2})
    assert summary["caption_clip"]["zeroshot_kind"] == {"mean": 0.6, "std": 0.0, "n": 1}
    results = {"base": metrics(0.5), "summary": summary}
    lines = table(results).splitlines()
    assert lines[2].startswith("| base CLIP | 50.0 |")
    assert lines[3].startswith("| cultureclip (n=2) | 85.0 ± 7.1 |")
    assert plot(results, tmp_path / "plot.png").stat().st_size > 1000


def test_experiment_config_rejects_unknown_variants():
    from benchmarks.twinworld.experiment import ExperimentConfig

    assert ExperimentConfig(variants=("cultureclip_nomask", "caption_clip")).variants[0] == "cultureclip_nomask"
    with pytest.raises(ValueError, match="Unknown variant 'negclip'"):
        ExperimentConfig(variants=("negclip",))
    with pytest.raises(ValueError, match="seeds is empty"):
        ExperimentConfig(seeds=())


def test_rescore_scores_a_finished_runs_models_again_and_trains_nothing(tmp_path, monkeypatch, capsys):
    import json
    from dataclasses import asdict

    from benchmarks.twinworld import experiment
    from benchmarks.twinworld.__main__ import main

    config = experiment.ExperimentConfig(variants=("cultureclip",), seeds=(0, 1))
    finished = tmp_path / "finished"
    runs = [{"variant": "cultureclip", "seed": seed, "metrics": {"general": 0.1}, "seconds": 9.0} for seed in (0, 1)]
    results = {"config": asdict(config), "base_model": "base-dir", "base": {"general": 0.1}, "runs": runs}
    finished.mkdir()
    (finished / "results.json").write_text(json.dumps({**results, "seconds": {"total": 99.0}, "command": "cmd"}))
    opened = []
    monkeypatch.setattr(experiment, "open_world_data", lambda *args: opened.append(args) or "data")
    monkeypatch.setattr(experiment, "score", lambda model, data: {"general": 0.5 if model == "base-dir" else 0.9})
    monkeypatch.setattr(experiment, "finetune", lambda *args: pytest.fail("rescoring trained a model"))

    rescored = experiment.rescore_experiment(tmp_path / "out", config, finished, log=lambda line: None)
    assert opened == [(finished / "data", config.data, config.difficulty)]
    assert rescored["base"] == {"general": 0.5} and rescored["base_model"] == "base-dir"
    assert [run["metrics"] for run in rescored["runs"]] == [{"general": 0.9}] * 2
    assert rescored["runs"][1]["seconds"] == 9.0 and rescored["seconds"]["total"] == 99.0
    assert rescored["summary"]["cultureclip"]["general"] == {"mean": 0.9, "std": 0.0, "n": 2}
    assert rescored["rescored_from"] == {"output_dir": str(finished), "command": "cmd"}
    assert json.loads((tmp_path / "out" / "results.json").read_text()) == rescored
    with pytest.raises(
        ValueError, match="was run with another config; rescore it with the options of its command: cmd"
    ):
        experiment.rescore_experiment(tmp_path / "other", experiment.ExperimentConfig(), finished)
    with pytest.raises(SystemExit):
        main(["--output-dir", str(tmp_path / "x"), "--rescore", str(finished), "--base", "b"])
    assert "--rescore reuses the base of the finished run" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_run_fine_tuning_learns_the_twin_detail(tmp_path):
    import json

    from benchmarks.twinworld.__main__ import main

    out = tmp_path / "twinworld"
    assert main(["--output-dir", str(out), "--quick", "--variants", "caption_clip", "cultureclip"]) == 0
    results = json.loads((out / "results.json").read_text())
    base, tuned = results["base"], results["summary"]["cultureclip"]
    assert base["zeroshot_colour"] > 0.8
    assert 0.4 < base["twin_concept_seen"] < 0.6
    assert tuned["twin_concept_seen"]["mean"] > base["twin_concept_seen"] + 0.05
    assert tuned["twin_caption_seen"]["mean"] > base["twin_caption_seen"] + 0.05
    assert set(results["summary"]) == {"caption_clip", "cultureclip"}
    assert (out / "results.png").stat().st_size > 1000
