"""Small builds keep a twin pair in every requested split, so the README's next step,
``evaluate --benchmarks cultwin`` (the test split), works on them."""

import json
from pathlib import Path

import pytest
from cultwin_fixtures import write_run

from cultureclip.cli import main
from cultureclip.dataset_builder.records import Pair, read_records, record_path, to_json

CONFIGS = Path(__file__).parents[1] / "configs"


def _evaluate_cultwin(clip: Path, release: Path, out: Path) -> dict:
    argv = ["evaluate", "--model", str(clip), "--benchmarks", "cultwin", "--dataset", f"cultwin={release}"]
    assert main([*argv, "--output-dir", str(out), "--cache-dir", str(out.parent / "cache")]) == 0
    return json.loads((out / "cultwin.json").read_text())


def _splits(release: Path) -> dict[str, int]:
    import datasets

    return {name: len(set(rows["twin_id"])) for name, rows in datasets.load_dataset(str(release)).items()}


def test_four_twin_pairs_with_default_sizes_get_a_test_split(tiny_models, tmp_path):
    """5% of 4 twin pairs rounded to 0: the build had no test split and evaluation failed on
    ``Unknown split "test"``."""
    run = write_run(tmp_path / "run")
    pairs = [p for p in read_records(run, Pair) if p.twin_id < "t04"]
    record_path(run, Pair).write_text("".join(to_json(p) + "\n" for p in pairs))
    release = tmp_path / "cultwin"
    assert main(["build-dataset", str(run), "--output-dir", str(release)]) == 0
    assert _splits(release) == {"train": 2, "validation": 1, "test": 1}
    result = _evaluate_cultwin(tiny_models["clip"], release, tmp_path / "eval")
    assert result["total"] > 0


def test_too_few_twin_pairs_for_the_requested_splits_say_why(tmp_path, capsys):
    run = write_run(tmp_path / "run")
    pairs = [p for p in read_records(run, Pair) if p.twin_id < "t02"]
    record_path(run, Pair).write_text("".join(to_json(p) + "\n" for p in pairs))
    assert main(["build-dataset", str(run), "--output-dir", str(tmp_path / "out")]) != 0
    error = capsys.readouterr().err
    assert "take 2 of 2 twin pairs" in error and "leave none for train" in error


@pytest.mark.slow
def test_readme_small_build_then_evaluate_cultwin(tiny_models, tmp_path):
    """The README's commands: generate (4 curated pairs), build-dataset, evaluate --benchmarks cultwin."""
    models_dir = tiny_models["clip"].parent
    run, release = tmp_path / "runs" / "tiny", tmp_path / "cultwin-tiny"
    argv = ["generate", "--config", str(CONFIGS / "cultwin_tiny.yaml"), "--models-dir", str(models_dir)]
    assert main([*argv, "--output-dir", str(run)]) == 0
    assert main(["build-dataset", str(run), "--output-dir", str(release)]) == 0
    assert _splits(release) == {"train": 2, "validation": 1, "test": 1}
    assert _evaluate_cultwin(tiny_models["clip"], release, tmp_path / "eval-out")["total"] > 0
