"""The benchmark scripts run as the README shows them, on the tiny models, and print their figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def run(*argv: str) -> str:
    result = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def figure(output: str, pattern: str) -> float:
    """The number ``pattern`` captures in ``output`` (times may print as 0.00 on the tiny models)."""
    match = re.search(pattern, output)
    assert match, f"no line matching {pattern!r} in:\n{output}"
    return float(match.group(1))


@pytest.fixture(scope="module")
def clip(tiny_models) -> str:
    return str(tiny_models["clip"])


def test_evaluate_benchmark(clip):
    output = run("benchmarks/evaluate.py", "--model", clip, "--items", "40", "--image-size", "32", "--batch-size", "8")
    assert "identical options and predictions on 40 questions" in output
    for pattern in (
        r"public loop .*?:\s+([\d.]+) s",
        r"ours .*?:\s+([\d.]+) s",
        r"image tower alone.*?:\s+([\d.]+) s",
    ):
        assert figure(output, pattern) >= 0
    assert figure(output, r"speed-up: ([\d.]+)x") > 0
    assert figure(output, r"ceiling .*?: ([\d.]+)x") > 0


def test_train_step_benchmark(clip):
    output = run("-m", "benchmarks.train_step", "--model", clip, "--batch_size", "4", "--steps", "1", "--warmup", "0")
    for name in ("public", "ours"):
        assert figure(output, rf"{name}:\s+([\d.]+) samples/s") > 0
        assert figure(output, rf"{name}:.*peak memory\s+([\d.]+) MiB") >= 0
    assert figure(output, r"speed-up: ([\d.]+)x") > 0
    assert figure(output, r"\|diff\| ([\d.e+-]+);") < 1e-4  # both steps compute the same loss


def test_generate_benchmark(tiny_models):
    models_dir = str(tiny_models["clip"].parent)
    output = run("benchmarks/generate.py", "--models-dir", models_dir, "--items", "2", "--batch-size", "2",
                 "--steps", "1", "--max-new-tokens", "4")  # fmt: skip
    for label in ("images/s", "captions/s"):
        assert figure(output, rf"{re.escape(label)}\s+batched\s+([\d.]+)") > 0
        assert figure(output, rf"{re.escape(label)}.*one at a time\s+([\d.]+)") > 0
