"""cultureclip.schemas: the shared JSON files are typed, versioned, and read the same way everywhere;
the cards and plots made from them name models, not local paths."""

import json

import pytest

from cultureclip.dataset_builder.card import LOCAL, LOCAL_FILE, _summary_rows, public_record, recorded_config
from cultureclip.dataset_builder.config import GenerationConfig
from cultureclip.evaluation.plots import groups_figure, model_name, summary_figure
from cultureclip.evaluation.results import EvaluationResults, load_results, summarize, to_eval_results, write_results
from cultureclip.schemas import (
    FORMAT_KEY,
    RUN_FIELDS,
    TRAINING_FIELDS,
    BenchmarkResult,
    RunRecord,
    SchemaError,
    Summary,
    TrainingRecord,
)


def training_record(**changes):
    record = {
        "base_model": "/home/me/tiny-models/clip",
        "base_model_revision": None,
        "dataset": {"id": "/home/me/cultwin", "config": "pairs", "split": "train", "eval_split": None,
                    "revision": None, "fingerprint": "f00", "train_rows": 12, "dropped_rows": 0},
        "training": dict.fromkeys((*TRAINING_FIELDS, *RUN_FIELDS), 1),
        "metrics": {"train_loss": 0.5},
        "libraries": {"torch": "2.13.0", "peft": None},
        "exports": {"merged": "merged", "adapter": "adapter"},
    }  # fmt: skip
    return record | changes


def benchmark_result(benchmark="cultwin", accuracy=0.5, model="/runs/train/merged", groups=None, options=2):
    return {
        "benchmark": benchmark,
        "accuracy": accuracy,
        "correct": int(4 * accuracy),
        "total": 4,
        "metrics": {"accuracy": accuracy, "concept_accuracy": accuracy, "caption_accuracy": 0.123456},
        "groups": groups or {},
        "model": {"name_or_path": model, "revision": None, "fingerprint": model},
        "dataset": {"id": "org/cultwin", "config": "pairs", "split": "test", "revision": None, "fingerprint": "d"},
        "seed": 42,
        "items": [{"options": ["a", "b", "c", "d"][:options], "correct_idx": 0, "predicted_idx": 0}] * 4,
        "cache": {"directory": None},
    }


@pytest.mark.parametrize(
    "kind, data",
    [
        (TrainingRecord, training_record()),
        (BenchmarkResult, benchmark_result()),
        (
            Summary,
            {
                "model": "m",
                "baseline": None,
                "rows": [{"benchmark": "cultwin", "model": 0.5, "baseline": None, "delta": None}],
            },
        ),
        (RunRecord, {"config": {"seed": 1}, "summary": {"concepts": {"items_in": 2}}, "source": "twinworld"}),
    ],
)
def test_files_round_trip_with_a_format_version_and_keep_undeclared_keys(tmp_path, kind, data):
    path = kind.from_dict(data).write(tmp_path / "file.json")
    written = json.loads(path.read_text())
    assert written[FORMAT_KEY] == kind.VERSION == 1
    assert all(written[key] == value for key, value in data.items())  # nothing lost, nothing changed
    assert kind.read(path).to_dict() == written
    assert not list(tmp_path.glob("*.tmp"))  # written through a temporary file renamed over it


def test_files_written_before_versions_existed_read_as_version_1(tmp_path):
    """Published training records and evaluation folders have no format_version: still readable."""
    (tmp_path / "training_record.json").write_text(json.dumps(training_record()))
    assert TrainingRecord.read(tmp_path / "training_record.json").dataset.train_rows == 12
    (tmp_path / "cultwin.json").write_text(json.dumps(benchmark_result()))
    (tmp_path / "summary.json").write_text(json.dumps({"model": "m", "baseline": None, "rows": [
        {"benchmark": "cultwin", "model": 0.5, "baseline": None, "delta": None}]}))  # fmt: skip
    assert load_results(tmp_path).model["cultwin"].accuracy == 0.5


@pytest.mark.parametrize("kind", [TrainingRecord, BenchmarkResult, Summary, RunRecord])
@pytest.mark.parametrize(
    "version, message",
    [
        (2, "has format_version 2, newer than this cultureclip reads (1); upgrade it"),
        ("1.0", "unknown format_version '1.0'"),
    ],
)
def test_a_newer_or_unknown_version_is_a_one_line_error_naming_file_and_version(tmp_path, kind, version, message):
    path = tmp_path / "some.json"
    path.write_text(json.dumps({FORMAT_KEY: version, "anything": 1}))
    with pytest.raises(SchemaError) as error:
        kind.read(path)
    assert str(path) in str(error.value) and message in str(error.value) and "\n" not in str(error.value)


def test_missing_and_mistyped_values_are_named(tmp_path):
    with pytest.raises(SchemaError, match=r"x.json lacks dataset.train_rows\.$"):
        data = training_record()
        del data["dataset"]["train_rows"]
        TrainingRecord.from_dict(data, "x.json")
    with pytest.raises(SchemaError, match=r"x.json: rows\[0\].model must be int or float, got '50%'"):
        Summary.from_dict({"model": "m", "rows": [{"benchmark": "b", "model": "50%"}]}, "x.json")
    with pytest.raises(SchemaError, match=r"x.json: the training record lacks training.world_size"):
        TrainingRecord.from_dict(training_record(training=dict.fromkeys(TRAINING_FIELDS, 1)), "x.json")
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(SchemaError, match="run.json is not valid JSON"):
        RunRecord.read(tmp_path / "run.json")


def test_a_published_training_record_names_hub_ids_not_local_folders():
    record = TrainingRecord.from_dict(training_record()).published("org/tiny-clip", "org/cultwin")
    assert record.base_model == "org/tiny-clip" and record.dataset.id == "org/cultwin"
    assert "/home/me" not in json.dumps(record.to_dict())


def test_evaluation_results_are_written_and_read_through_the_schema(tmp_path):
    written = write_results(tmp_path, {"cultwin": benchmark_result()}, {"cultwin": benchmark_result(accuracy=0.25)})
    loaded = load_results(tmp_path)
    assert loaded == written
    assert loaded.summary.rows[0].delta == 0.25 and loaded.baseline["cultwin"].accuracy == 0.25
    assert json.loads((tmp_path / "summary.json").read_text())[FORMAT_KEY] == 1
    assert loaded.model["cultwin"].extra["items"]  # the benchmark's own keys survive


def test_the_model_index_lists_each_metric_once_rounded():
    entries = to_eval_results({"cultwin": benchmark_result()})
    assert [(e.metric_name, e.metric_value) for e in entries] == [
        ("concept_accuracy", 0.5),
        ("caption_accuracy", 0.1235),
    ]


def test_chance_is_the_mean_guessing_accuracy_of_multiple_choice_questions():
    assert BenchmarkResult.from_dict(benchmark_result(options=4)).chance == 0.25
    assert BenchmarkResult.from_dict(benchmark_result() | {"items": [{"caption_ids": [1]}]}).chance is None


def test_the_dataset_card_names_local_models_as_such_and_keeps_hub_ids(tmp_path):
    config = GenerationConfig.from_dict(
        {
            "source": "curated",
            "curated_path": str(tmp_path / "twins.jsonl"),
            "captions": {"mode": "compose"},
            "quality": {"vlm_scores": False},
        }
    ).to_dict()
    config["diffusion"]["model"] = "demo-output/tiny-models/diffusion"
    config["quality"]["clip_model"] = str(tmp_path)
    record = RunRecord(
        config=config, models={"diffusion": "/abs/diffusion", "clip_score": "openai/clip-vit-base-patch32"}
    )
    shown = public_record(record, recorded_config(record))
    assert shown["models"] == {"diffusion": LOCAL, "clip_score": "openai/clip-vit-base-patch32"}
    assert shown["config"]["diffusion"]["model"] == shown["config"]["quality"]["clip_model"] == LOCAL
    assert shown["config"]["curated_path"] == LOCAL_FILE
    assert str(tmp_path) not in json.dumps(shown) and FORMAT_KEY not in shown
    assert record.config["diffusion"]["model"] == "demo-output/tiny-models/diffusion"  # the record is unchanged


def test_stage_tables_follow_the_pipeline_order():
    """run.json files written with sorted keys list stages alphabetically; the card does not."""
    summary = {stage: {"seconds": 1.0, "kept": 1, "items_in": 2} for stage in sorted(
        ("concepts", "twins", "captions", "images", "quality", "pairs"))}  # fmt: skip
    rows = _summary_rows(summary)
    assert [row["stage"] for row in rows] == ["concepts", "twins", "captions", "images", "quality", "pairs"]
    assert list(rows[0]) == ["stage", "items_in", "kept", "seconds"]


def _texts(figure):
    return [text.get_text() for axes in figure.axes for text in axes.texts]


def test_plots_have_a_title_a_chance_line_labelled_bars_and_model_names():
    import matplotlib.pyplot as plt

    groups = {
        "country": {
            "JP": {"accuracy": 0.0, "correct": 0, "total": 2},
            "KR": {"accuracy": 1.0, "correct": 2, "total": 2},
        }
    }
    model = BenchmarkResult.from_dict(benchmark_result(groups=groups))
    base_groups = {"country": {"JP": {"accuracy": 0.5, "correct": 1, "total": 2}}}  # no KR result
    baseline = BenchmarkResult.from_dict(benchmark_result(model="org/clip", groups=base_groups))
    results = EvaluationResults(
        model={"cultwin": model},
        baseline={"cultwin": baseline},
        summary=Summary(
            model="/runs/train/merged", baseline="org/clip", rows=summarize({"cultwin": model}, {"cultwin": baseline})
        ),
    )
    for figure in (summary_figure(results), groups_figure(model, "country", baseline)):
        axes = figure.axes[0]
        assert axes.get_title()
        labels = axes.get_legend_handles_labels()[1]
        assert "chance" in labels and "model: train" in labels and "baseline: org/clip" in labels
        assert not any("/runs" in label for label in labels)
        figure.canvas.draw()
        legend, plot = axes.get_legend().get_window_extent(), axes.get_window_extent()
        assert legend.x0 >= plot.x1  # beside the axes, never over a bar
    figure = groups_figure(model, "country", baseline)
    assert _texts(figure).count("0%") == 1 and "n/a" in _texts(figure)  # 0% and missing read differently
    assert [line.get_xdata()[0] for line in figure.axes[0].lines] == [50.0]  # chance of two options
    plt.close("all")


def test_model_names():
    assert model_name("org/cultureclip") == "org/cultureclip"
    assert model_name("/runs/vitb32/merged") == "vitb32"
    assert model_name("/runs/vitb32/merged", {"/runs/vitb32/merged": "org/x"}) == "org/x"
    assert model_name(None) == "a model in memory"
