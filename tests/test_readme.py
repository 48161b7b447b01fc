"""The README's commands are the ones CI runs, and its step-by-step walkthrough runs as written."""

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cultureclip.evaluation import load_results
from cultureclip.schemas import RunRecord, TrainingRecord

ROOT = Path(__file__).parents[1]
WALKTHROUGH = "### Step by step"


def _bash_blocks(text):
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def _commands(block: str) -> list[str]:
    """The block's commands, one per entry, with backslash continuations joined."""
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def walkthrough_commands(readme: str) -> list[str]:
    section = readme.split(WALKTHROUGH, 1)[1]
    return _commands(_bash_blocks(section)[0])


def fresh_clone(target: Path) -> Path:
    """The repository's files as a clone has them (tracked and not ignored), none of its run folders."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    return target


def test_ci_runs_the_readme_setup_and_test_commands():
    setup, _main_job, tests = _bash_blocks((ROOT / "README.md").read_text())[:3]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert all(line in ci for line in setup.splitlines())
    assert tests in ci


def test_the_walkthrough_covers_every_stage_and_keeps_training_out_of_the_generation_run():
    commands = walkthrough_commands((ROOT / "README.md").read_text())
    words = [[word for word in shlex.split(command) if not re.match(r"[A-Z_]+=", word)] for command in commands]
    assert {command[0] for command in words} == {"cultureclip"}
    verbs = [command[1] for command in words]
    assert verbs == [
        "make-tiny-models",
        "generate",
        "build-dataset",
        "validate-dataset",
        "train",
        "evaluate",
        "publish",
    ]
    assert "HF_HUB_OFFLINE=1" in commands[3] and "--dry-run" in commands[-1]
    generation_run = shlex.split(commands[1])[shlex.split(commands[1]).index("--output-dir") + 1]
    tiny = (ROOT / "configs" / "tiny.yaml").read_text()
    assert re.search(r"^output_dir: (\S+)", tiny, flags=re.M).group(1) not in (generation_run, f"{generation_run}/")


@pytest.mark.slow
def test_the_walkthrough_runs_as_written_from_a_fresh_clone(tmp_path):
    clone = fresh_clone(tmp_path / "clone")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HF_HOME": str(tmp_path / "hf-home"),
        "CULTURECLIP_CACHE": str(tmp_path / "embedding-cache"),
        "HF_HUB_OFFLINE": "1",  # nothing in the walkthrough needs the network
    }
    start = time.perf_counter()
    for command in walkthrough_commands((ROOT / "README.md").read_text()):
        done = subprocess.run(command, shell=True, cwd=clone, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    print(f"walkthrough: {time.perf_counter() - start:.0f} s")

    run = RunRecord.read(clone / "runs" / "tiny" / "run.json")
    assert list(run.summary) == ["concepts", "twins", "captions", "images", "quality", "pairs"]
    assert not (clone / "runs" / "tiny" / "merged").exists()  # training wrote into its own folder
    assert (clone / "cultwin-tiny" / "README.md").is_file() and list((clone / "cultwin-tiny" / "pairs").glob("test-*"))
    train = clone / "runs" / "tiny-train"
    assert (train / "merged" / "model.safetensors").is_file() and (train / "adapter" / "adapter_config.json").is_file()
    assert TrainingRecord.read(train / "training_record.json").dataset.id == str((clone / "cultwin-tiny").resolve())
    results = load_results(clone / "runs" / "tiny-eval")
    assert [row.benchmark for row in results.summary.rows] == ["cultwin"] and results.baseline
    assert (clone / "runs" / "tiny-eval" / "plots" / "summary.png").is_file()
    model = clone / "hub-release" / "model"
    card = (model / "README.md").read_text()
    assert "org/cultureclip" in card and "org/tiny-random-clip" in card and str(clone) not in card
    assert json.loads((model / "training_record.json").read_text())["dataset"]["id"] == "org/cultwin"
