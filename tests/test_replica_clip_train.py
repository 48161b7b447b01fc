"""The paper's training config (configs/paper_vitb32.yaml) on the openai/clip-vit-base-patch32 replica.

Only the model path, the data and the sizes are overridden; the LoRA targets, loss and optimiser
settings stay the paper's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clip_replica_fixtures import MINI, NARROW, captions, load_in_fresh_process

from cultureclip.cli import main
from cultureclip.testing.replica_clip import make_clip_replica

ROOT = Path(__file__).parents[1]


def train_paper_config(base_model: Path, dataset: Path, output_dir: Path, *extra: str) -> Path:
    """``cultureclip train --config configs/paper_vitb32.yaml`` for two small steps; returns the merged folder."""
    argv = ["train", "--config", str(ROOT / "configs" / "paper_vitb32.yaml"), "--base_model", str(base_model)]
    argv += ["--dataset", str(dataset), "--output_dir", str(output_dir), "--max_steps", "2"]
    argv += [
        "--per_device_train_batch_size",
        "4",
        "--gradient_accumulation_steps",
        "1",
        "--dataloader_num_workers",
        "0",
    ]
    assert main([*argv, "--disable_tqdm", "true", *extra]) == 0
    return output_dir / "merged"


def assert_same_clip_text_setup(merged: Path, replica: Path) -> None:
    """The merged model keeps the replica's legacy text ids and tokenizes exactly as the replica."""
    from transformers import CLIPTokenizer

    ids = ("bos_token_id", "eos_token_id", "pad_token_id")
    text_config = json.loads((merged / "config.json").read_text())["text_config"]
    assert {name: text_config[name] for name in ids} == {"bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
    texts = [text for _, text in captions(300)]
    ours, base = CLIPTokenizer.from_pretrained(merged), CLIPTokenizer.from_pretrained(replica)
    assert ours(texts, truncation=True).input_ids == base(texts, truncation=True).input_ids


@pytest.mark.slow
def test_paper_config_keeps_the_clip_text_ids(release_dir, tmp_path):
    """transformers' Trainer rewrites the text config's special-token ids to the tokenizer's (49406,
    49407, 49407); the exported model must keep the real checkpoint's (0, 2, 1), which choose the
    argmax(input_ids) pooling."""
    replica = make_clip_replica(tmp_path / "clip", shape=MINI)
    merged = train_paper_config(replica, release_dir, tmp_path / "run")
    assert_same_clip_text_setup(merged, replica)
    training = json.loads((tmp_path / "run" / "training_record.json").read_text())["training"]
    assert training["lora_target_modules"] == ["q_proj", "v_proj"] and training["lora_r"] == 4


@pytest.fixture(scope="module")
def narrow_replica(tmp_path_factory):
    return make_clip_replica(tmp_path_factory.mktemp("replica") / "clip", shape=NARROW)


@pytest.mark.slow
@pytest.mark.parametrize("precision", [[], ["--bf16", "true", "--use_cpu", "true"]], ids=["fp32", "bf16"])
def test_paper_config_on_replica_end_to_end(narrow_replica, release_dir, tmp_path, precision):
    """Train (fp32, or bf16 autocast on CPU), export, load the merged model with the standard APIs in a
    fresh process (zero-shot pipeline, real token ids), then `cultureclip evaluate` it against the replica."""
    import eval_datasets

    merged = train_paper_config(narrow_replica, release_dir, tmp_path / "run", *precision)
    training = json.loads((tmp_path / "run" / "training_record.json").read_text())["training"]
    assert training["bf16"] == bool(precision) and training["lora_target_modules"] == ["q_proj", "v_proj"]
    assert_same_clip_text_setup(merged, narrow_replica)
    load_in_fresh_process(merged)

    retrieval = eval_datasets.globalrg_retrieval(tmp_path / "globalrg")
    argv = ["evaluate", "--model", str(merged), "--baseline", str(narrow_replica)]
    argv += ["--benchmarks", "globalrg-retrieval,cultwin", "--dataset", f"globalrg-retrieval={retrieval}"]
    argv += ["--dataset", f"cultwin={release_dir}", "--output-dir", str(tmp_path / "eval")]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0
    for benchmark in ("globalrg-retrieval", "cultwin"):
        assert (tmp_path / "eval" / f"{benchmark}.json").is_file()
        assert (tmp_path / "eval" / "baseline" / f"{benchmark}.json").is_file()
    assert json.loads((tmp_path / "eval" / "summary.json").read_text())
