"""Multi-process training: 2 CPU processes (torchrun, gloo) train the weights of 1 process with the doubled batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cultwin_fixtures import pairs_dataset
from safetensors.torch import load_file

from cultureclip.cli import main

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_two_processes_train_the_weights_of_one_process_with_the_doubled_batch(tiny_models, tmp_path):
    """11 rows, 2 rows per process (4 per global batch), accumulation 2, 3 steps: the global batches are 4, 4
    and an uneven 3 (2 + 1 rows), and the second epoch starts within the run. LoRA dropout 0 and a
    sequential order make both runs see the same rows; logit_scale trains. The 2-process run also
    evaluates on the 11 rows: its loss terms must count the rows its eval_loss counts."""
    data = tmp_path / "cultwin"
    (data / "data").mkdir(parents=True)
    pairs_dataset().select(range(11)).to_parquet(data / "data" / "train-00000-of-00001.parquet")
    common = ["train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--dataset", str(data)]
    common += ["--base_model", str(tiny_models["clip"]), "--max_steps", "3", "--gradient_accumulation_steps", "2"]
    common += ["--lora_dropout", "0", "--train_logit_scale", "true", "--train_sampling_strategy", "sequential"]
    common += ["--learning_rate", "1e-2", "--disable_tqdm", "true", "--dataloader_num_workers", "0"]

    evaluation = ["--eval_split", "train", "--per_device_eval_batch_size", "2"]  # 4, 4, 3 rows + 1 repeated
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m",
               "cultureclip.cli", *common, "--per_device_train_batch_size", "2", "--output_dir", str(tmp_path / "two"), *evaluation]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "2 processes: each optimizer step averages 2 x 2 x 2 = 8 caption pairs" in result.stderr
    assert main([*common, "--per_device_train_batch_size", "4", "--output_dir", str(tmp_path / "one")]) == 0

    # The loss terms are weighted over the rows eval_loss counts, without the row even_batches repeats.
    metrics = json.loads((tmp_path / "two" / "training_record.json").read_text())["metrics"]
    weighted = 0.7 * metrics["eval_caption_loss"] + 0.3 * metrics["eval_concept_loss"]
    assert metrics["eval_loss"] == pytest.approx(weighted, rel=1e-6)

    two = load_file(tmp_path / "two" / "merged" / "model.safetensors")
    one = load_file(tmp_path / "one" / "merged" / "model.safetensors")
    base = load_file(tiny_models["clip"] / "model.safetensors")
    assert two.keys() == one.keys()
    assert max((two[name] - one[name]).abs().max().item() for name in one) < 1e-5
    assert (one["logit_scale"] - base["logit_scale"]).abs().item() > 1e-3  # it trained, identically
    assert max((one[name] - base[name]).abs().max().item() for name in one if "q_proj" in name) > 1e-3
    assert torch.equal(
        two["text_model.embeddings.token_embedding.weight"], base["text_model.embeddings.token_embedding.weight"]
    )
