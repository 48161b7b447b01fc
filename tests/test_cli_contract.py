"""The conventions every ``cultureclip`` command shares (issue 12, command line): one-line errors,
"not found" and offline fail-fast for references, one flag style, one override syntax, help text."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

import cultureclip.cli_args
from cultureclip.cli import COMMANDS, main
from cultureclip.cli_args import dashed, parse_assignments
from cultureclip.errors import UserError

ROOT = Path(__file__).parents[1]


def run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def bad_input(name: str, tmp_path: Path) -> list[str]:
    """Arguments that parse but name something missing or unusable, per command."""
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    missing = str(tmp_path / "missing")
    return {
        "make-tiny-models": ["make-tiny-models", str(occupied)],
        "generate": ["generate", "--config", f"{missing}.yaml", "--output-dir", str(tmp_path / "run")],
        "build-dataset": ["build-dataset", missing, "--output-dir", str(occupied)],
        "validate-dataset": ["validate-dataset", missing],
        "train": ["train", "--config", f"{missing}.yaml", "--output-dir", str(tmp_path / "train")],
        "evaluate": ["evaluate", "--model", missing, "--output-dir", str(tmp_path / "eval")],
        "publish model": ["publish", "model", "--checkpoint", missing, "--repo-id", "org/x", "--dry-run"],
        "publish dataset": ["publish", "dataset", "--release-dir", missing, "--repo-id", "org/x", "--dry-run"],
        "demo": ["demo", "--output-dir", str(occupied)],
    }[name]


COMMAND_CASES = [name for name in COMMANDS if name != "publish"] + ["publish model", "publish dataset"]


@pytest.mark.parametrize("name", COMMAND_CASES)
def test_every_command_reports_a_user_error_on_one_line(name, tmp_path, capsys):
    code, err = run(bad_input(name, tmp_path), capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"cultureclip {name.split()[0]}: error: ") and "Traceback" not in err


@pytest.mark.parametrize("name", COMMAND_CASES)
def test_every_command_reports_a_bad_flag_on_one_line(name, capsys):
    code, err = run([*name.split(), "--no-such-flag"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"cultureclip {name}: error: ") and ("--no-such-flag" in err or "required" in err)


def test_debug_shows_the_traceback_of_a_user_error(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="not found"):
        main(["--debug", "validate-dataset", str(tmp_path / "missing")])
    monkeypatch.setenv("CULTURECLIP_DEBUG", "1")
    with pytest.raises(UserError, match="not found"):
        main(["validate-dataset", str(tmp_path / "missing")])


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("cultureclip.dataset_builder.validate_cli.validate_release", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["validate-dataset", str(tmp_path), "--tokenizer", str(tmp_path)])


# Flags: one style, underscores as aliases, one override syntax.


def test_underscore_flags_are_aliases_of_the_dashed_ones():
    assert dashed(["--output_dir", "a_b", "--max_tokens=3", "--set", "a_b=1", "--", "--x_y"]) == [
        "--output-dir",
        "a_b",
        "--max-tokens=3",
        "--set",
        "a_b=1",
        "--",
        "--x_y",
    ]
    from cultureclip.evaluation.cli import parse_args

    args = parse_args(["--model", "m", "--output_dir", "out", "--batch_size", "8", "--no_plots"])
    assert (args.output_dir, args.batch_size, args.no_plots) == ("out", 8, True)


def test_one_override_syntax_with_the_old_evaluate_spelling_as_alias():
    from cultureclip.evaluation.cli import parse_args

    common = ["--model", "m", "--output-dir", "out", "--benchmarks", "zeroshot"]
    new = parse_args([*common, "--set", "zeroshot.group_column=region", "--set", "zeroshot.batch_size=8"])
    old = parse_args([*common, "--option", "zeroshot.group_column=region", "--option", "zeroshot.batch_size=8"])
    assert new.options == old.options == {"zeroshot": {"group_column": "region", "batch_size": 8}}
    assert parse_assignments(["a.b=[x, y]", "c=none", "d=2.5", "e=true"]) == {
        "a.b": ["x", "y"],
        "c": None,
        "d": 2.5,
        "e": True,
    }
    with pytest.raises(UserError, match="is not KEY=VALUE"):
        parse_assignments(["a.b"])


def test_generate_takes_the_same_override_syntax(tmp_path):
    from cultureclip.dataset_builder.config import load_config

    config = load_config("configs/cultwin_tiny.yaml", ["captions.per_concept=2"], {"models_dir": "m"})
    assert config.captions.per_concept == 2


# Help: every option has help text, defaults shown once, examples laid out.


def _parsers(monkeypatch) -> dict[str, argparse.ArgumentParser]:
    """Each command's parser, captured as the command starts parsing (train: see test_train_cli)."""
    captured = {}

    class Captured(Exception):
        pass

    def capture(self, args=None, namespace=None):
        captured.setdefault("parser", self)
        raise Captured

    monkeypatch.setattr(cultureclip.cli_args.ArgumentParser, "parse_known_args", capture)
    parsers = {}
    for name in COMMANDS:
        if name == "train":
            continue
        captured.clear()
        with pytest.raises(Captured):
            main([name])
        parsers[name] = captured["parser"]
    publish = parsers.pop("publish")
    for sub in publish._subparsers._group_actions[0].choices.values():
        parsers[sub.prog.removeprefix("cultureclip ")] = sub
    return parsers


def test_every_option_has_help_and_its_default_once(monkeypatch):
    for name, parser in _parsers(monkeypatch).items():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"cultureclip {name} {action.option_strings or action.dest} has no help"
        text = parser.format_help()
        assert not any(line.count("(default") > 1 for line in text.splitlines()), name
        assert "example" in text, f"cultureclip {name} --help shows no example"
        for action in parser._actions:
            if action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS):
                assert f"(default: {action.default})" in " ".join(text.split()), (name, action.dest)


def test_publish_output_dir_help_says_where_the_folders_go(capsys):
    with pytest.raises(SystemExit):
        main(["publish", "model", "--help"])
    assert "OUT/model" in " ".join(capsys.readouterr().out.split())


# References: "not found" for a missing local path; offline, an uncached Hub id fails at once.


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    return tmp_path / "hub"


def test_offline_uncached_hub_id_fails_at_once_naming_the_option(tmp_path, empty_cache, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    code, err = run(["validate-dataset", str(tmp_path), "--tokenizer", "org/not-cached"], capsys)
    assert time.perf_counter() - start < 5  # was 53 s of retries
    assert code == 2 and "--tokenizer 'org/not-cached'" in err and "HF_HUB_OFFLINE=1" in err
    assert "give --tokenizer a local folder" in err
    # a cached snapshot loads offline: no error from the check
    (empty_cache / "models--org--cached" / "snapshots" / "abc").mkdir(parents=True)
    (empty_cache / "models--org--cached" / "snapshots" / "abc" / "config.json").write_text("{}")
    from cultureclip.references import check_reference

    check_reference("org/cached", "--tokenizer")


def test_unreachable_hub_counts_as_offline(tmp_path, empty_cache, monkeypatch, capsys):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    code, err = run(["train", "--dataset", "org/cultwin", "--output-dir", str(tmp_path / "t")], capsys)
    assert code == 2 and "http://127.0.0.1:9 cannot be reached" in err
    assert "--base-model 'openai/clip-vit-base-patch32'" in err


def test_evaluate_and_generate_name_the_option_that_takes_a_local_folder(tmp_path, empty_cache, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip = tmp_path / "clip"
    clip.mkdir()
    code, err = run(["evaluate", "--model", str(clip), "--benchmarks", "crope", "--output-dir", "x"], capsys)
    assert code == 2 and "--dataset crope= 'Malvinan/CROPE'" in err
    code, err = run(["evaluate", "--model", "./no-such-model", "--output-dir", str(tmp_path / "e")], capsys)
    assert code == 2 and "--model './no-such-model' not found" in err
    argv = ["generate", "--config", "configs/cultwin_tiny.yaml", "--models-dir", str(tmp_path)]
    code, err = run([*argv, "--set", "diffusion.model=org/diffusion", "--output-dir", str(tmp_path / "g")], capsys)
    assert code == 2 and "diffusion.model 'org/diffusion'" in err and not (tmp_path / "g").exists()


def test_missing_local_paths_say_not_found(tmp_path, capsys):
    code, err = run(["train", "--base-model", "./nope", "--output-dir", str(tmp_path / "t")], capsys)
    assert code == 2 and "--base-model './nope' not found" in err
    code, err = run(["validate-dataset", str(tmp_path / "nope")], capsys)
    assert code == 2 and "not found" in err


def test_the_cultwin_defaults_name_one_repository():
    import inspect

    from cultureclip import CULTWIN_REPO_ID
    from cultureclip.dataset_builder.card import render_card
    from cultureclip.dataset_builder.release import ReleaseConfig
    from cultureclip.evaluation.benchmarks import get_benchmark

    card_default = inspect.signature(render_card).parameters["repo_id"].default
    assert get_benchmark("cultwin").DATASET == ReleaseConfig().repo_id == card_default == CULTWIN_REPO_ID
