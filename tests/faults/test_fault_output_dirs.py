"""Output folders (issue 12 and issue 14.2, 14.4): never overwrite or delete a folder cultureclip did
not write, never write into an input, never leave a half-written folder that loads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cultureclip.cli import main
from cultureclip.errors import UserError
from cultureclip.output_dirs import MARKER, atomic_output_dir, check_output_dir, owned, remove_owned

ROOT = Path(__file__).parents[1]


def test_a_non_empty_folder_is_refused_and_never_deleted_unless_cultureclip_wrote_it(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("years of work")
    with pytest.raises(UserError, match="is not empty; choose a new folder, or pass --overwrite"):
        check_output_dir(theirs)
    with (
        pytest.raises(UserError, match="was not written by cultureclip"),
        atomic_output_dir(theirs, overwrite=True) as staged,
    ):
        (staged / "out.json").write_text("{}")
    with pytest.raises(UserError, match="refusing to delete"):
        remove_owned(theirs)
    assert (theirs / "thesis.tex").read_text() == "years of work"
    assert [p.name for p in tmp_path.iterdir()] == ["theirs"]  # no temporary folder left behind


def test_an_output_is_replaced_only_as_a_whole(tmp_path):
    out = tmp_path / "out"
    with atomic_output_dir(out) as staged:
        (staged / "a.json").write_text("1")
    assert owned(out) and (out / "a.json").read_text() == "1"
    with pytest.raises(UserError, match="--overwrite"):
        check_output_dir(out)
    with atomic_output_dir(out, overwrite=True) as staged:
        (staged / "b.json").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "b.json"]  # no stale a.json
    with pytest.raises(RuntimeError), atomic_output_dir(out, overwrite=True) as staged:
        (staged / "c.json").write_text("3")
        raise RuntimeError("failed half way")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "b.json"]  # the previous output stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("relation", ["is", "contains"])
def test_an_output_folder_may_not_be_or_contain_an_input(tmp_path, relation):
    checkpoint = tmp_path / "runs" / "train"
    checkpoint.mkdir(parents=True)
    out = checkpoint if relation == "is" else tmp_path / "runs"
    with pytest.raises(UserError, match="is or contains --checkpoint"):
        check_output_dir(out, overwrite=True, inputs={"--checkpoint": checkpoint})


KILLED_BUILD = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from cultwin_fixtures import write_run
import cultureclip.dataset_builder.card as card
from cultureclip.dataset_builder.release import build_release

run_dir = write_run({run!r})
def killed(*args, **kwargs):  # the shards are written; the card is not
    os.kill(os.getpid(), signal.SIGKILL)
card.render_card = killed
build_release(run_dir, {out!r})
"""


def test_a_build_killed_before_its_card_leaves_no_release_that_loads(tmp_path):
    """Issue 14.4: killed after the shards are written but before the card, nothing loads as OUT."""
    out = tmp_path / "release"
    script = KILLED_BUILD.format(tests=str(ROOT / "tests"), run=str(tmp_path / "run"), out=str(out))
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert not out.exists()
    partial = [p for p in tmp_path.iterdir() if p.name.startswith(".release.partial-")]
    assert len(partial) == 1 and list(partial[0].rglob("*.parquet"))  # killed after the shards
    code = main(["build-dataset", str(tmp_path / "run"), "--output-dir", str(out)])
    assert code == 0 and (out / "README.md").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".release.partial-")]  # cleaned up


def test_publish_never_touches_the_checkpoint_even_with_overwrite_and_dry_run(tmp_path, capsys):
    """Issue 14.2: ``publish --overwrite`` pointed at the training run (or a parent) erased it."""
    run = tmp_path / "train"
    run.mkdir()
    (run / "training_record.json").write_text("{}")
    argv = ["publish", "model", "--checkpoint", str(run), "--repo-id", "org/x", "--overwrite", "--dry-run"]
    for out in (run, tmp_path):
        assert main([*argv, "--output-dir", str(out)]) == 2
        assert "is or contains --checkpoint" in capsys.readouterr().err
    # a bad repo id is refused before anything else, also the one that made the default --output-dir "."
    with pytest.raises(SystemExit) as exit_:
        main(["publish", "model", "--checkpoint", str(run), "--repo-id", "org/..", "--dry-run"])
    assert exit_.value.code == 2
    assert "'org/..' is not a Hub repo id" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]
    assert (run / "training_record.json").read_text() == "{}"


def test_evaluate_refuses_a_non_empty_folder_before_loading_a_model(tmp_path, capsys):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "crope.json").write_text("{}")
    code = main(["evaluate", "--model", str(tmp_path / "no-model"), "--output-dir", str(out)])
    assert code == 2 and "is not empty; choose a new folder, or pass --overwrite" in capsys.readouterr().err


def test_generate_refuses_a_folder_it_did_not_start(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for name in ("clip", "diffusion"):  # the tiny config's models: only their paths are checked first
        (tmp_path / "models" / name).mkdir(parents=True)
    argv = ["generate", "--config", "configs/cultwin_tiny.yaml", "--models-dir", str(tmp_path / "models")]
    assert main([*argv, "--stages", "concepts", "--output-dir", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_evaluate_overwrite_leaves_no_stale_results(tiny_models, release_dir, tmp_path):
    """Issue 12: a new evaluation into a folder replaced only some files; a baseline from an earlier
    run stayed beside the new summary."""
    from cultureclip.evaluation import load_results

    out = tmp_path / "eval"
    argv = ["evaluate", "--model", str(tiny_models["clip"]), "--benchmarks", "cultwin", "--no-plots", "--no-cache"]
    argv += ["--dataset", f"cultwin={release_dir}", "--output-dir", str(out)]
    assert main([*argv, "--baseline", str(tiny_models["clip"])]) == 0
    assert (out / "baseline" / "cultwin.json").is_file()
    assert main(argv) == 2  # not empty
    assert main([*argv, "--overwrite"]) == 0
    assert not (out / "baseline").exists() and load_results(out).baseline == {}
