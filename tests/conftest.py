"""Shared fixtures: the tiny plumbing checkpoints, built once per test session."""

from __future__ import annotations

import pytest

from cultureclip.testing import make_tiny_models


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """``{"clip": Path, "diffusion": Path, "llm": Path, "vlm": Path}`` of random-weight models."""
    return make_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def paper_replicas(tmp_path_factory):
    """``{"diffusion": Path, "llm": Path, "vlm": Path}``: ``make-tiny-models --preset paper`` (the SD 3.5
    and Qwen2.5-VL replicas; CLIP's is another module's)."""
    from cultureclip.cli import main

    root = tmp_path_factory.mktemp("paper-replicas")
    assert main(["make-tiny-models", str(root), "--preset", "paper", "--kinds", "diffusion,llm,vlm"]) == 0
    return {kind: root / kind for kind in ("diffusion", "llm", "vlm")}


@pytest.fixture(scope="session")
def training_output(tiny_models, release_dir, tmp_path_factory):
    """A ``cultureclip train`` run folder (merged/, adapter/, training_record.json): the tiny config,
    two LoRA steps of the tiny CLIP on the CulTwin release."""
    from pathlib import Path

    from cultureclip.cli import main

    output_dir = tmp_path_factory.mktemp("train")
    argv = ["train", "--config", str(Path(__file__).parents[1] / "configs" / "tiny.yaml"), "--max_steps", "2"]
    argv += ["--dataset", str(release_dir), "--base_model", str(tiny_models["clip"]), "--output_dir", str(output_dir)]
    assert main([*argv, "--disable_tqdm", "true"]) == 0
    return output_dir


@pytest.fixture(scope="session")
def eval_dir(training_output, tiny_models, release_dir, tmp_path_factory):
    """A ``cultureclip evaluate`` output folder: the trained model against its base CLIP on
    GlobalRG-Retrieval (a local copy) and the CulTwin release."""
    import eval_datasets

    from cultureclip.cli import main

    root = tmp_path_factory.mktemp("eval")
    retrieval = eval_datasets.globalrg_retrieval(root / "globalrg")
    argv = ["evaluate", "--model", str(training_output / "merged"), "--baseline", str(tiny_models["clip"])]
    argv += ["--benchmarks", "globalrg-retrieval,cultwin", "--dataset", f"globalrg-retrieval={retrieval}"]
    argv += [
        "--dataset",
        f"cultwin={release_dir}",
        "--output-dir",
        str(root / "out"),
        "--cache-dir",
        str(root / "cache"),
    ]
    assert main(argv) == 0
    return root / "out"


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory):
    """A CulTwin release folder built by `build_release` from a tiny generation run."""
    from cultwin_fixtures import write_run

    from cultureclip.dataset_builder.release import ReleaseConfig, build_release

    root = tmp_path_factory.mktemp("cultwin")
    return build_release(
        write_run(root / "run"), root / "out", ReleaseConfig(seed=3, test_size=0.2, repo_id="org/cultwin")
    ).output_dir


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory):
    """One demo run pushed to a fake Hub client: ``(output folder, what it printed, the client's calls)``."""
    import contextlib
    import io

    from test_hub import FakeHfApi

    from cultureclip.demo import main

    out = tmp_path_factory.mktemp("demo") / "out"
    printed = io.StringIO()
    FakeHfApi.calls = []
    argv = ["--output-dir", str(out), "--twin-pairs", "6", "--test-pairs", "2", "--train-steps", "4"]
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setattr("huggingface_hub.HfApi", FakeHfApi)
        assert main([*argv, "--push-to-hub", "my-org"]) == 0
    return out, printed.getvalue(), list(FakeHfApi.calls)
