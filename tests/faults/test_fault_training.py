"""Training runs that would report something false (issue 14, points 10 and 11): a run that trains
nothing is refused; a resumed run records the whole run's loss and runtime."""

import json
import shutil
from pathlib import Path

import pytest
from cultwin_fixtures import pairs_dataset

from cultureclip.trainer.train import parse_args, run_training

TINY = str(Path(__file__).parents[2] / "configs" / "tiny.yaml")


def config_and_data(tiny_models, release_dir, output_dir, *flags):
    argv = ["--config", TINY, "--base_model", str(tiny_models["clip"]), "--dataset", str(release_dir)]
    return parse_args([*argv, "--output_dir", str(output_dir), "--disable_tqdm", "true", *flags])


def test_no_steps_and_no_epochs_is_refused(tiny_models, release_dir, tmp_path):
    with pytest.raises(ValueError, match=r"max_steps=0 and num_train_epochs=0.0 train nothing; set --max_steps"):
        config_and_data(tiny_models, release_dir, tmp_path, "--max_steps", "0", "--num_train_epochs", "0")


def test_a_run_whose_every_row_was_dropped_is_refused(tiny_models, release_dir, tmp_path):
    config, data = config_and_data(tiny_models, release_dir, tmp_path, "--drop_invalid_rows", "true")
    every_row_broken = pairs_dataset().map(lambda row: {"neg_concept": ""})
    with pytest.raises(ValueError, match=r"Nothing to train on: all \d+ rows were invalid and dropped"):
        run_training(config, data, train_dataset=every_row_broken)
    assert not (tmp_path / "merged").exists() and not (tmp_path / "training_record.json").exists()


def test_a_resumed_run_records_the_whole_runs_loss_and_runtime(tiny_models, release_dir, tmp_path):
    # logging every 3 steps and saving every 2: the checkpoint falls between two logs
    steps = ["--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2", "--logging_steps", "3"]
    whole = run_training(*config_and_data(tiny_models, release_dir, tmp_path / "whole", *steps)).metrics

    crashed = tmp_path / "crashed"  # a run killed after its first checkpoint
    shutil.copytree(tmp_path / "whole" / "checkpoint-2", crashed / "checkpoint-2")
    first_segment = json.loads((crashed / "checkpoint-2" / "trainer_state.json").read_text())
    resume = ["--resume_from_checkpoint", str(crashed / "checkpoint-2")]
    result = run_training(*config_and_data(tiny_models, release_dir, crashed, *steps, *resume))

    record = json.loads(result.record_path.read_text())["metrics"]
    assert record["train_loss"] == pytest.approx(whole["train_loss"], rel=1e-4)
    seconds = first_segment["stateful_callbacks"]["RunTotals"]["attributes"]["seconds"]
    assert record["train_runtime"] > seconds > 0
