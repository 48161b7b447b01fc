"""``cultureclip evaluate`` end to end on the tiny CLIP, with a baseline."""

import json

import eval_datasets
import pytest
from PIL import Image

from cultureclip.cli import main
from cultureclip.evaluation import load_results, to_eval_results
from cultureclip.testing import TinyModelsConfig, make_tiny_models


def test_evaluate_command_writes_results_summary_and_plots(tiny_models, tmp_path, capsys):
    baseline = make_tiny_models(tmp_path / "baseline-models", TinyModelsConfig(seed=1), kinds=("clip",))["clip"]
    retrieval = eval_datasets.globalrg_retrieval(tmp_path / "globalrg")
    cultwin = eval_datasets.cultwin(tmp_path / "cultwin")
    out = tmp_path / "out"
    argv = [
        "evaluate",
        "--model", str(tiny_models["clip"]),
        "--baseline", str(baseline),
        "--benchmarks", "globalrg-retrieval,cultwin",
        "--dataset", f"globalrg-retrieval={retrieval}",
        "--dataset", f"cultwin={cultwin}",
        "--output-dir", str(out),
        "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "benchmark" in printed and "delta" in printed and "cultwin" in printed

    for folder in (out, out / "baseline"):
        for name in ("globalrg-retrieval", "cultwin"):
            result = json.loads((folder / f"{name}.json").read_text())
            assert {"accuracy", "correct", "total", "items", "model", "dataset", "seed"} <= set(result)
    results = load_results(out)
    assert results.model["cultwin"].model.name_or_path == str(tiny_models["clip"])
    assert results.baseline["cultwin"].model.name_or_path == str(baseline)
    for row in results.summary.rows:
        model, other = results.model[row.benchmark], results.baseline[row.benchmark]
        assert row.model == model.accuracy and row.baseline == other.accuracy
        assert row.delta == pytest.approx(model.accuracy - other.accuracy)
        assert f"{100 * row.model:.2f}" in printed

    plots = sorted(path.name for path in (out / "plots").iterdir())
    assert (
        "summary.png" in plots and "globalrg-retrieval-region.png" in plots and "cultwin-concept_country.png" in plots
    )
    with Image.open(out / "plots" / "summary.png") as png:
        assert png.format == "PNG" and png.width > 100

    entries = to_eval_results(results)
    assert [(e.dataset_name, e.metric_name) for e in entries] == [
        ("GlobalRG-Retrieval", "accuracy"),
        ("CulTwin", "concept_accuracy"),
        ("CulTwin", "caption_accuracy"),
    ]
    assert entries[0].metric_value == round(results.model["globalrg-retrieval"].accuracy, 4)
    assert entries[0].dataset_type == str(retrieval) and entries[0].dataset_split == "test"


def test_evaluate_command_rejects_bad_arguments(tmp_path, capsys):
    common = ["evaluate", "--model", "m", "--output-dir", str(tmp_path)]
    with pytest.raises(SystemExit):
        main([*common, "--benchmarks", "globalrg-retrieval,imagenet"])
    assert "imagenet" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*common, "--benchmarks", "crope", "--dataset", "crope"])
    assert "'crope' is not KEY=VALUE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*common, "--benchmarks", "crope", "--option", "zeroshot.group_column=region"])
    assert "zeroshot.group_column" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*common, "--benchmarks", "crope", "--baseline-revision", "v1"])
    assert "--baseline-revision needs --baseline" in capsys.readouterr().err


def test_option_values_that_are_names_stay_text(tmp_path):
    from cultureclip.evaluation.cli import parse_args

    common = ["--model", "m", "--output-dir", str(tmp_path), "--benchmarks", "cultwin,zeroshot"]
    options = ["cultwin.dataset_revision=1.0", "zeroshot.label_column=2024", "zeroshot.group_column=none"]
    options += ["zeroshot.classnames=['cat', 'dog']", "zeroshot.batch_size=8"]
    args = parse_args([*common, *[arg for option in options for arg in ("--option", option)]])
    assert args.options["cultwin"] == {"dataset_revision": "1.0"}
    assert args.options["zeroshot"] == {
        "label_column": "2024",
        "group_column": None,
        "classnames": ["cat", "dog"],
        "batch_size": 8,
    }


def test_results_of_an_earlier_run_in_the_folder_are_not_loaded(tmp_path):
    from cultureclip.evaluation.results import write_results

    def result(benchmark, model):
        return {
            "benchmark": benchmark,
            "accuracy": 0.5,
            "correct": 1,
            "total": 2,
            "metrics": {"accuracy": 0.5},
            "model": {"name_or_path": model, "fingerprint": model},
            "dataset": {"id": None},
        }

    write_results(tmp_path, {"crope": result("crope", "a")}, {"crope": result("crope", "base")})
    write_results(tmp_path, {"zeroshot": result("zeroshot", "b")})
    loaded = load_results(tmp_path)
    assert list(loaded.model) == ["zeroshot"] and loaded.baseline == {}
