"""``cultureclip train``: config file + overrides, the run folder, and a merged model that loads cleanly."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cultwin_fixtures import pairs_dataset

from cultureclip.cli import main
from cultureclip.trainer.train import parse_args

ROOT = Path(__file__).parents[1]

# Loads the merged folder in a fresh interpreter and reports warnings, transformers log records and
# whether peft got imported.
LOAD_CHECK = textwrap.dedent(
    """
    import io, json, logging, sys, warnings
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_warning()
    stream = io.StringIO()
    logging.getLogger("transformers").addHandler(logging.StreamHandler(stream))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from PIL import Image
        from transformers import CLIPModel, pipeline

        CLIPModel.from_pretrained(sys.argv[1])
        classify = pipeline("zero-shot-image-classification", model=sys.argv[1])
        scores = classify(Image.new("RGB", (40, 40), "red"), candidate_labels=["concept 0", "twin 0"])
    print(json.dumps({"warnings": [str(w.message) for w in caught], "log": stream.getvalue(),
                      "peft": "peft" in sys.modules, "labels": sorted(s["label"] for s in scores)}))
    """
)


@pytest.fixture
def cultwin_folder(tmp_path):
    folder = tmp_path / "cultwin"
    (folder / "data").mkdir(parents=True)
    pairs_dataset().to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    return folder


def test_train_command_writes_merged_adapter_and_record(tiny_models, cultwin_folder, tmp_path):
    output_dir = tmp_path / "run"
    argv = ["train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--dataset", str(cultwin_folder)]
    argv += ["--base_model", str(tiny_models["clip"]), "--output_dir", str(output_dir), "--max_steps", "2"]
    argv += ["--eval_split", "train", "--disable_tqdm", "true"]
    assert main(argv) == 0

    record = json.loads((output_dir / "training_record.json").read_text())
    assert record["base_model"] == str(tiny_models["clip"])
    assert record["dataset"]["id"] == str(cultwin_folder.resolve())
    assert record["dataset"]["train_rows"] == 12 and record["dataset"]["fingerprint"]
    training = record["training"]
    assert training["loss_type"] == "cultureclip" and training["lambda_caption"] == 0.7
    assert training["max_steps"] == 2 and training["lora_target_modules"] == ["q_proj", "v_proj"]
    assert training["effective_batch_size"] == 8 and training["world_size"] == 1
    assert {"train_loss", "eval_loss", "eval_twin_accuracy"} <= set(record["metrics"])
    assert record["libraries"]["transformers"]
    assert (output_dir / "adapter" / "adapter_config.json").is_file()

    merged = output_dir / "merged"
    assert (merged / "model.safetensors").is_file()
    check = subprocess.run(
        [sys.executable, "-c", LOAD_CHECK, str(merged)], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert check.returncode == 0, check.stderr
    loaded = json.loads(check.stdout.strip().splitlines()[-1])
    assert loaded == {"warnings": [], "log": "", "peft": False, "labels": ["concept 0", "twin 0"]}


def test_two_processes_train_one_global_batch_and_write_once(tiny_models, cultwin_folder, tmp_path):
    """``torchrun --nproc_per_node 2`` (gloo, CPU): one record, one export, the global batch in it."""
    import os

    output_dir = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m",
               "cultureclip.cli", "train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--dataset",
               str(cultwin_folder), "--base_model", str(tiny_models["clip"]), "--output_dir", str(output_dir),
               "--max_steps", "2", "--eval_split", "train", "--disable_tqdm", "true"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.count("training record:") == 1  # only the process that wrote it says so
    record = json.loads((output_dir / "training_record.json").read_text())
    assert record["training"]["world_size"] == 2 and record["training"]["effective_batch_size"] == 16
    assert {"train_loss", "eval_loss", "eval_twin_accuracy"} <= set(record["metrics"])
    assert (output_dir / "merged" / "model.safetensors").is_file()


def test_command_line_overrides_the_config_file(tmp_path):
    config, data = parse_args(["--config", str(ROOT / "configs" / "paper_vitb32.yaml"), "--lora_r", "8"])
    assert (config.lora_r, config.lora_alpha, config.lambda_caption) == (8, 16, 0.7)
    assert (config.per_device_train_batch_size, config.gradient_accumulation_steps) == (128, 16)
    assert (config.learning_rate, config.warmup_steps, config.weight_decay, config.seed) == (1e-5, 100, 0.1, 42)
    assert data.base_model == "openai/clip-vit-base-patch32"


def test_unknown_config_keys_and_missing_data_fail_clearly(tmp_path, tiny_models, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lora_rank: 4\n")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['lora_rank'\]"):
        parse_args(["--config", str(bad)])
    argv = ["--config", str(ROOT / "configs" / "tiny.yaml"), "--base_model", str(tiny_models["clip"])]
    assert main(["train", *argv, "--output_dir", str(tmp_path / "run")]) == 2
    assert "cultureclip train: error: No training data: pass --dataset" in capsys.readouterr().err


def test_set_dashes_and_underscores_override_the_same_fields():
    config_file = ["--config", str(ROOT / "configs" / "paper_vitb32.yaml")]
    config, data = parse_args([*config_file, "--set", "lora_r=8", "--set", "lora-alpha=32", "--max-steps", "3"])
    assert (config.lora_r, config.lora_alpha, config.max_steps) == (8, 32, 3)
    # a flag overrides --set, which overrides the file; both flag spellings are the same option
    config, data = parse_args([*config_file, "--set", "lora_r=8", "--lora-r", "2", "--base_model", "org/clip"])
    assert (config.lora_r, data.base_model) == (2, "org/clip")
    with pytest.raises(ValueError, match=r"--set: unknown option\(s\) \['lora_rank'\]"):
        parse_args(["--set", "lora_rank=4"])


def test_train_help_is_short_and_shows_each_default_once(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert len(text.splitlines()) < 200  # 691 lines before
    for shown in ("--lora-r LORA_R", "--base-model BASE_MODEL", "--output-dir OUTPUT_DIR", "--set KEY=VALUE"):
        assert shown in text
    assert "--help-all" in text and "--torch-compile" not in text and "--lora_r" not in text
    assert not any(line.count("(default") > 1 for line in text.splitlines())
    with pytest.raises(SystemExit):
        main(["train", "--help-all"])
    assert "--torch_compile" in capsys.readouterr().out


def test_config_values_are_typed_as_flags_are(tmp_path, capsys):
    """Issue 14.17 for train: a config value is checked as the same flag would be, before a model loads."""
    config = tmp_path / "c.yaml"
    config.write_text("base_model: 42\n")
    with pytest.raises(ValueError, match=r"base_model=42 must be text"):
        parse_args(["--config", str(config)])
    config.write_text("lora_r: 4.5\n")
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--config", str(config), "--output-dir", str(tmp_path / "run")])
    assert (
        exit_.value.code == 2
        and "invalid int value: '4.5'" in capsys.readouterr().err
        and not (tmp_path / "run").exists()
    )
    config.write_text("mask_duplicate_concepts: 'false'\nlearning_rate: 2.0e-5\nlora_target_modules: [q_proj]\n")
    parsed, _ = parse_args(["--config", str(config)])
    assert (parsed.mask_duplicate_concepts, parsed.learning_rate, parsed.lora_target_modules) == (
        False,
        2e-5,
        ["q_proj"],
    )
