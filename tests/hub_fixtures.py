"""A hand-made training output folder, in the layout `cultureclip train` writes."""

from __future__ import annotations

import json
from pathlib import Path


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
    # The layout of `trainer.export.training_record`.
    record = {
        "base_model": base_model,
        "dataset": {
            "id": "org/cultwin",
            "config": "pairs",
            "split": "train",
            "eval_split": "validation",
            "revision": None,
            "fingerprint": "0f1e2d3c4b5a6978",
            "train_rows": 100,
            "dropped_rows": 0,
        },
        "training": {
            "loss_type": "cultureclip",
            "lambda_caption": 0.7,
            "lambda_concept": 0.3,
            "mask_duplicate_concepts": True,
            "finetuning": "lora",
            "lora_r": 4,
            "lora_alpha": 16,
            "lora_dropout": 0.1,
            "lora_target_modules": ["q_proj", "v_proj"],
            "lora_layers": "all",
            "lora_towers": ["vision", "text"],
            "train_logit_scale": False,
            "learning_rate": 1e-5,
            "lr_scheduler_type": "linear",
            "warmup_steps": 100,
            "weight_decay": 0.1,
            "num_train_epochs": 10,
            "max_steps": -1,
            "per_device_train_batch_size": 128,
            "gradient_accumulation_steps": 16,
            "world_size": 1,
            "effective_batch_size": 2048,
            "seed": 42,
        },
        "metrics": {"train_loss": 1.2345, "eval_twin_accuracy": 0.625},
        "libraries": {"transformers": "5.24.0", "peft": "0.21.0", "torch": "2.13.0", "cultureclip": None},
        "exports": {"merged": "merged", "adapter": "adapter"},
    }
    (output_dir / "training_record.json").write_text(json.dumps(record, indent=2))
    return output_dir
