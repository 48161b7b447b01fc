"""``python -m benchmarks.device_check`` at a tiny size on CPU, so the GPU check cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
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
def test_the_whole_check_on_cpu_at_a_tiny_size(mini_replica, tmp_path):
    """Every section, as on a GPU but tiny; the SD3 and Qwen2.5-VL replicas are built on the spot."""
    import torch

    output = tmp_path / "figures.json"
    argv = ["-m", "benchmarks.device_check", "--clip", str(mini_replica), "--output", str(output)]
    argv += ["--batch-size", "4", "--steps", "1", "--warmup", "0", "--items", "40", "--image-size", "32"]
    argv += ["--eval-batch-size", "8", "--resolution", "64", "--diffusion-steps", "1", "--images", "2"]
    argv += ["--prompts", "2", "--max-new-tokens", "2"]
    result = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]

    report = json.loads(output.read_text())
    assert report["errors"] == {} and list(report["sections"]) == list(device_check.SECTIONS)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert report["environment"]["device"] == device
    train, evaluate = report["sections"]["train"], report["sections"]["evaluate"]
    assert train["bf16"] and train["batch_size"] == 4
    for method in ("public", "ours"):
        assert train[method]["samples_per_second"] > 0 and train[method]["peak_bytes"] >= 0
    assert train["speedup"] > 0 and abs(train["loss"]["ours"] - train["loss"]["public"]) < 0.05  # bf16 rounding
    assert evaluate["questions"] > 0 and evaluate["speedup"] > 0 and evaluate["ceiling"] > 0
    assert "samples/s" in result.stdout and "identical options and predictions" in result.stdout

    diffusion, vlm = report["sections"]["diffusion"], report["sections"]["vlm"]
    assert (diffusion["resolution"], diffusion["steps"], diffusion["n_images"]) == (64, 1, 2)
    assert diffusion["images_per_s"] > 0 and diffusion["peak_memory_mb"] > 0
    assert vlm["generated_tokens"] == 2 * 2 and vlm["tokens_per_s"] > 0 and vlm["prompt_tokens"] > 0
    dtypes = ("float32", "float32") if device == "cpu" else ("float16", "bfloat16")
    assert (diffusion["dtype"], vlm["dtype"]) == dtypes


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


def test_each_replica_is_built_once_when_first_needed(monkeypatch, tmp_path):
    from cultureclip.testing import replicas

    built = []

    def fake_builder(out_dir, seed):
        built.append(out_dir.name)
        out_dir.mkdir(parents=True)
        (out_dir / "replica.json").write_text(json.dumps({"mirrors": out_dir.name}))
        return out_dir

    monkeypatch.setattr(replicas, "BUILDERS", dict.fromkeys(replicas.BUILDERS, fake_builder))
    models = device_check.Models(device_check.CheckConfig(), tmp_path)
    paths = [models.path(kind) for kind in ("diffusion", "vlm", "diffusion", "clip")]
    assert paths == [str(tmp_path / kind) for kind in ("diffusion", "vlm", "diffusion", "clip")]
    assert built == ["diffusion", "vlm", "clip"]  # the second kind goes into the same, no longer empty, folder


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        device_check.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m benchmarks.device_check")
    options = text[text.index("\noptions:") :]
    for field in fields(device_check.CheckConfig):
        flag = f"--{field.name.replace('_', '-')}"
        assert flag in options, flag
        if isinstance(field.default, int):
            assert f"(default: {field.default})" in options, flag
    for section in device_check.SECTIONS:
        assert f"{section} section:" in options and f"``{section}``" in text


@pytest.mark.parametrize(
    "argv, message",
    [(["--sections", "train,gpu"], "--sections"), (["--batch-size", "0"], "--batch-size must be at least 1")],
)
def test_bad_options_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit):
        device_check.parse_args(argv)
    assert message in capsys.readouterr().err
