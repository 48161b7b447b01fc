import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cultureclip.demo import DemoConfig, main


def test_demo_pushes_base_dataset_and_model_in_one_commit_each(demo_output):
    uploads = [(repo, options["repo_type"]) for call, repo, options in demo_output[2] if call == "upload_folder"]
    assert uploads == [
        ("my-org/tiny-random-clip", "model"),
        ("my-org/cultwin", "dataset"),
        ("my-org/cultureclip", "model"),
        ("my-org/cultureclip-demo", "space"),
    ]
    card = (demo_output[0] / "hub" / "model" / "README.md").read_text()
    assert "base_model: my-org/tiny-random-clip" in card and "my-org/cultwin" in card


def test_push_to_hub_help_and_readme_name_every_repository_it_pushes(demo_output, capsys, monkeypatch):
    pushed = [repo.replace("my-org/", "ORG/") for call, repo, _ in demo_output[2] if call == "upload_folder"]
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping inside a repo id
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for repo in pushed:
        assert repo in usage, repo
        assert f"`{repo}`" in readme, repo


def test_demo_prints_stages_artifacts_and_real_commands(demo_output):
    out, printed, _ = demo_output
    assert "plumbing, not quality" in printed
    for stage in ("tiny models", "generate", "build-dataset", "train", "evaluate", "release folders", "push to hub"):
        assert any(line.startswith(stage) and line.endswith(" s") for line in printed.splitlines()), stage
    for path in ("tiny-models/clip", "run/run.json", "cultwin/README.md", "train/merged", "eval/summary.json"):
        assert (out / path).exists(), path
        assert str(out / path.split("/")[0]) in printed
    assert (out / "hub" / "model" / "README.md").is_file()
    assert (out / "hub" / "model" / "adapter" / "adapter_config.json").is_file()
    assert "pushed my-org/cultureclip" in printed
    assert "--config configs/cultwin_paper.yaml" in printed and "openai/clip-vit-base-patch32" in printed


def test_demo_outputs_load_with_plain_libraries(demo_output):
    """A new process, offline, without project code: the model and the dataset the demo built."""
    out, _, _ = demo_output
    script = textwrap.dedent(
        """
        import sys
        from datasets import load_dataset
        from transformers import CLIPModel, CLIPProcessor, pipeline
        model_dir, release_dir = sys.argv[1:]
        CLIPModel.from_pretrained(model_dir)
        CLIPProcessor.from_pretrained(model_dir)
        pairs = load_dataset(release_dir)
        concepts = load_dataset(release_dir, "concepts")
        assert set(pairs) == {"train", "test"} and set(concepts) == {"train", "test"}
        row = pairs["test"][0]
        image = concepts["test"].filter(lambda c: c["concept_id"] == row["pos_concept_id"])[0]["images"][row["pos_image_index"]]
        scores = pipeline("zero-shot-image-classification", model=model_dir)(
            image, candidate_labels=[row["pos_concept"], row["neg_concept"]]
        )
        assert {s["label"] for s in scores} == {row["pos_concept"], row["neg_concept"]}
        assert not any(m.split(".")[0] in ("cultureclip", "modeling_cultureclip", "trainer", "dataset_builder", "evaluation") for m in sys.modules)
        print("LOADED")
        """
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONPATH="")
    result = subprocess.run(
        [sys.executable, "-c", script, str(out / "hub" / "model"), str(out / "cultwin")],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=300,
    )
    assert "LOADED" in result.stdout, result.stderr[-3000:]


def test_demo_refuses_a_used_folder(tmp_path):
    (tmp_path / "old.txt").write_text("keep me")
    with pytest.raises(ValueError, match="is not empty"):
        DemoConfig(output_dir=tmp_path)
    assert (tmp_path / "old.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"twin_pairs": 4, "test_pairs": 4}, "test_pairs=4 leaves no twin pair"),
        ({"train_steps": 0}, "train_steps=0"),
        ({"push_to_hub": "org/name"}, "organisation or user name"),
        ({"push_to_hub": ".."}, "organisation or user name"),
    ],
)
def test_demo_bad_options(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DemoConfig(output_dir=tmp_path / "new", **kwargs)


def test_demo_cli_reports_bad_options(tmp_path, capsys):
    from cultureclip.cli import main as cli_main

    assert cli_main(["demo", "--output-dir", str(tmp_path / "x"), "--twin-pairs", "2", "--test-pairs", "3"]) == 2
    assert "cultureclip demo: error: test_pairs=3" in capsys.readouterr().err
