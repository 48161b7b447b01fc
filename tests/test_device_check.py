"""``python -m benchmarks.device_check`` at a tiny size on CPU, so the GPU check cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from clip_replica_fixtures import MINI

from benchmarks import device_check
from cultureclip.testing.replica_clip import make_clip_replica

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def mini_replica(tmp_path_factory):
    return make_clip_replica(tmp_path_factory.mktemp("replica") / "clip", shape=MINI)


@pytest.mark.slow
def test_train_and_evaluate_sections_on_cpu(mini_replica, tmp_path):
    import torch

    output = tmp_path / "figures.json"
    argv = ["-m", "benchmarks.device_check", "--sections", "train,evaluate", "--clip", str(mini_replica)]
    argv += ["--batch-size", "4", "--steps", "1", "--warmup", "0", "--items", "40", "--image-size", "32"]
    argv += ["--eval-batch-size", "8", "--output", str(output)]
    result = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]

    report = json.loads(output.read_text())
    assert report["errors"] == {}
    assert report["environment"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    train, evaluate = report["sections"]["train"], report["sections"]["evaluate"]
    assert train["bf16"] and train["batch_size"] == 4
    for method in ("public", "ours"):
        assert train[method]["samples_per_second"] > 0 and train[method]["peak_bytes"] >= 0
    assert train["speedup"] > 0 and abs(train["loss"]["ours"] - train["loss"]["public"]) < 0.05  # bf16 rounding
    assert evaluate["questions"] > 0 and evaluate["speedup"] > 0 and evaluate["ceiling"] > 0
    assert "samples/s" in result.stdout and "identical options and predictions" in result.stdout


def test_a_failing_section_is_recorded_and_the_others_run(monkeypatch, tmp_path):
    def broken(config, device, models):
        raise RuntimeError("no such model")

    monkeypatch.setitem(device_check.RUNNERS, "diffusion", broken)
    monkeypatch.setitem(device_check.RUNNERS, "vlm", lambda config, device, models: {"tokens_per_second": 1.0})
    config = device_check.CheckConfig(device="cpu", sections=("diffusion", "vlm"), output=str(tmp_path / "f.json"))
    report = device_check.run_check(config)
    assert report["errors"] == {"diffusion": "RuntimeError: no such model"}
    assert json.loads((tmp_path / "f.json").read_text())["sections"] == {"vlm": {"tokens_per_second": 1.0}}


def test_models_come_from_the_folders_given(tmp_path):
    config = device_check.CheckConfig(models_dir="replicas", clip="my-clip")
    models = device_check.Models(config, tmp_path)
    assert (models.path("clip"), models.path("vlm")) == ("my-clip", str(Path("replicas") / "vlm"))


def test_a_replica_that_cannot_be_built_is_an_error_not_an_exit(monkeypatch, tmp_path):
    from cultureclip.testing import tiny_models_cli

    def rejects(argv):
        raise SystemExit(2)

    monkeypatch.setattr(tiny_models_cli, "main", rejects)
    models = device_check.Models(device_check.CheckConfig(), tmp_path)
    with pytest.raises(RuntimeError, match="--preset paper --kinds vlm.*--models-dir"):
        models.path("vlm")


@pytest.mark.parametrize(
    "argv, message",
    [(["--sections", "train,gpu"], "--sections"), (["--batch-size", "0"], "--batch-size must be at least 1")],
)
def test_bad_options_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit):
        device_check.parse_args(argv)
    assert message in capsys.readouterr().err
