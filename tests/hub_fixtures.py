"""Hand-made inputs of the publishing code: a training output, an evaluation folder, a CulTwin release."""

from __future__ import annotations

import json
from pathlib import Path

DATASET_CARD = """---
license: apache-2.0
task_categories:
- zero-shot-image-classification
configs:
- config_name: pairs
  default: true
  data_files:
  - split: train
    path: pairs/train-*.parquet
  - split: test
    path: pairs/test-*.parquet
- config_name: concepts
  data_files:
  - split: train
    path: concepts/train-*.parquet
---

# CulTwin

Twin cultural concepts with contextualized captions and generated images.
"""

PAIRS = {
    "pos_concept": ["Mantou", "Erhu", "Hanbok"],
    "neg_concept": ["Baozi", "Guzheng", "Kimono"],
    "pos_caption": ["A plain steamed bun on a bamboo tray", "A two-stringed fiddle", "A flared Korean dress"],
    "neg_caption": ["A pleated stuffed bun", "A long plucked zither", "A Japanese robe with an obi"],
}


def make_training_output(output_dir: Path, clip_dir: Path, base_model: str = "openai/clip-vit-base-patch32") -> Path:
    """A `cultureclip train` output folder: a real LoRA adapter on ``clip_dir``, merged, and its record."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import CLIPModel, CLIPProcessor

    torch.manual_seed(0)
    model = get_peft_model(
        CLIPModel.from_pretrained(clip_dir),
        LoraConfig(r=4, lora_alpha=16, lora_dropout=0.1, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    model.save_pretrained(output_dir / "adapter")
    model.merge_and_unload().save_pretrained(output_dir / "merged")
    CLIPProcessor.from_pretrained(clip_dir).save_pretrained(output_dir / "merged")
    record = {
        "base_model": base_model,
        "dataset": {"id": "org/cultwin", "config": "pairs", "split": "train", "fingerprint": "0f1e2d3c4b5a6978"},
        "loss_type": "cultureclip",
        "lambda_caption": 0.7,
        "lambda_concept": 0.3,
        "mask_duplicate_concepts": True,
        "lora": {
            "r": 4,
            "alpha": 16,
            "dropout": 0.1,
            "target_modules": ["q_proj", "v_proj"],
            "layers": "all",
            "towers": ["vision", "text"],
        },
        "learning_rate": 1e-5,
        "lr_scheduler_type": "linear",
        "warmup_steps": 100,
        "num_train_epochs": 10,
        "per_device_train_batch_size": 128,
        "gradient_accumulation_steps": 16,
        "world_size": 1,
        "seed": 42,
        "train_metrics": {"train_loss": 1.2345, "train_runtime": 12.5},
        "versions": {"transformers": "5.24.0", "peft": "0.21.0", "torch": "2.13.0"},
    }
    (output_dir / "training_record.json").write_text(json.dumps(record, indent=2))
    return output_dir


def make_eval_dir(eval_dir: Path) -> Path:
    """An evaluation folder: two benchmarks, a baseline for one, a summary and a plot."""
    from PIL import Image

    results = {
        "globalrg-retrieval": (0.5625, 9, 16, 0.5),
        "crope": (0.75, 3, 4, None),
    }
    (eval_dir / "baseline").mkdir(parents=True)
    for name, (accuracy, correct, total, baseline) in results.items():
        result = {"accuracy": accuracy, "correct": correct, "total": total, "model": "runs/train/merged", "seed": 42}
        result["dataset"] = {"id": f"test/{name}", "split": "test", "revision": "abc"}
        (eval_dir / f"{name}.json").write_text(json.dumps(result))
        if baseline is not None:
            result["accuracy"] = baseline
            (eval_dir / "baseline" / f"{name}.json").write_text(json.dumps(result))
    (eval_dir / "summary.json").write_text(json.dumps({"benchmarks": list(results)}))
    Image.new("RGB", (16, 8), "white").save(eval_dir / "accuracy.png")
    return eval_dir


def make_dataset_release(release_dir: Path) -> Path:
    """A CulTwin release folder: Parquet shards with embedded image bytes, configs pairs and concepts."""
    import datasets
    from PIL import Image

    colors = ["red", "green", "blue"]
    features = datasets.Features(
        {
            **{name: datasets.Value("string") for name in PAIRS},
            "pos_image": datasets.Image(),
            "neg_image": datasets.Image(),
        }
    )
    pairs = datasets.Dataset.from_dict(
        {
            **PAIRS,
            "pos_image": [Image.new("RGB", (8, 8), color) for color in colors],
            "neg_image": [Image.new("RGB", (8, 8), color) for color in reversed(colors)],
        },
        features=features,
    )
    # Images built in memory are stored as bytes, so the Parquet files are self-contained.
    (release_dir / "pairs").mkdir(parents=True)
    pairs.select([0, 1]).to_parquet(release_dir / "pairs" / "train-00000-of-00001.parquet")
    pairs.select([2]).to_parquet(release_dir / "pairs" / "test-00000-of-00001.parquet")
    concepts = datasets.Dataset.from_dict(
        {"concept": PAIRS["pos_concept"] + PAIRS["neg_concept"], "twin": PAIRS["neg_concept"] + PAIRS["pos_concept"]}
    )
    (release_dir / "concepts").mkdir()
    concepts.to_parquet(release_dir / "concepts" / "train-00000-of-00001.parquet")
    (release_dir / "README.md").write_text(DATASET_CARD)
    Image.new("RGB", (16, 8), "white").save(release_dir / "preview.png")
    return release_dir
