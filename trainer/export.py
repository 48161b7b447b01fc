"""What a training run leaves behind: the merged model, the adapter and ``training_record.json``."""

from __future__ import annotations

import json
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import CultureCLIPConfig
from .lora import save_logit_scale

if TYPE_CHECKING:
    from transformers import CLIPProcessor

    from .data import DataArguments

MERGED_DIR = "merged"
ADAPTER_DIR = "adapter"
RECORD_FILE = "training_record.json"
RECORD_LIBRARIES = ("torch", "transformers", "peft", "datasets", "accelerate", "cultureclip")

# The CultureCLIPConfig fields a reader needs to reproduce the run (the model card shows them).
RECORD_FIELDS = (
    "loss_type",
    "lambda_caption",
    "lambda_concept",
    "mask_duplicate_concepts",
    "mask_duplicate_captions",
    "gather_across_devices",
    "finetuning",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "lora_layers",
    "lora_towers",
    "train_logit_scale",
    "drop_invalid_rows",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "optim",
    "max_grad_norm",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "seed",
    "bf16",
    "fp16",
)


def export_model(model, processor: CLIPProcessor, output_dir: str | Path) -> dict[str, Path | None]:
    """Save the adapter (LoRA runs) to ``output_dir/adapter`` and a plain ``CLIPModel`` to ``output_dir/merged``.

    The merged folder holds safetensors weights, the config and the processor: it loads with
    ``CLIPModel.from_pretrained`` and ``pipeline("zero-shot-image-classification")`` without peft.
    With a LoRA model this merges the adapters into the weights in place (the model is a plain
    ``CLIPModel`` afterwards); export last.

    Returns:
        ``{"merged": Path, "adapter": Path | None}``.
    """
    from peft import PeftModel

    output_dir = Path(output_dir)
    adapter_dir = None
    if isinstance(model, PeftModel):
        adapter_dir = output_dir / ADAPTER_DIR
        model.save_pretrained(adapter_dir)
        save_logit_scale(model, adapter_dir)
        model = model.merge_and_unload()
    merged_dir = output_dir / MERGED_DIR
    model.save_pretrained(merged_dir)
    processor.save_pretrained(merged_dir)
    return {"merged": merged_dir, "adapter": adapter_dir}


def training_record(
    config: CultureCLIPConfig,
    data: DataArguments,
    dataset_fingerprint: str | None,
    dropped_rows: int,
    train_rows: int,
    metrics: dict[str, float],
) -> dict[str, Any]:
    """The facts of a run that the model card and a reader who wants to reproduce it need.

    Keys:
        ``base_model``: Hub id or path of the fine-tuned CLIP.
        ``base_model_revision``: the Hub commit its weights came from (``None`` for a local folder;
        in offline mode, the revision as requested).
        ``dataset``: ``{"id", "config", "split", "eval_split", "revision", "fingerprint",
        "train_rows", "dropped_rows"}``; ``id`` is the Hub id or the absolute local folder,
        ``revision`` the commit read from the Hub (in offline mode, the revision as requested),
        ``fingerprint`` the ``datasets`` fingerprint of the training split.
        ``training``: every field of `RECORD_FIELDS` (loss, mask, LoRA, optimiser, schedule,
        epochs, batch) plus ``world_size`` and ``effective_batch_size`` (per device x accumulation
        x world size).
        ``metrics``: the final train (and eval) metrics the Trainer reported; ``train_loss`` and
        ``train_runtime`` cover the whole run, across ``--resume_from_checkpoint``.
        ``libraries``: versions of torch, transformers, peft, datasets, accelerate, cultureclip.
        ``exports``: the folder names of the merged model and (LoRA runs) the adapter.
    """
    settings = {name: _plain(getattr(config, name)) for name in RECORD_FIELDS}
    settings["world_size"] = config.world_size
    settings["effective_batch_size"] = (
        config.per_device_train_batch_size * config.gradient_accumulation_steps * config.world_size
    )
    dataset_id = data.dataset
    if dataset_id and Path(dataset_id).exists():
        dataset_id = str(Path(dataset_id).resolve())
    return {
        "base_model": data.base_model,
        "base_model_revision": data.base_model_revision,
        "dataset": {
            "id": dataset_id,
            "config": data.dataset_config,
            "split": data.train_split,
            "eval_split": data.eval_split,
            "revision": data.dataset_revision,
            "fingerprint": dataset_fingerprint,
            "train_rows": train_rows,
            "dropped_rows": dropped_rows,
        },
        "training": settings,
        "metrics": metrics,
        "libraries": {name: _version(name) for name in RECORD_LIBRARIES},
        "exports": {"merged": MERGED_DIR, "adapter": ADAPTER_DIR if config.finetuning == "lora" else None},
    }


def write_training_record(record: dict[str, Any], output_dir: str | Path) -> Path:
    """Write `training_record` output as ``output_dir/training_record.json``."""
    path = Path(output_dir) / RECORD_FILE
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _plain(value):
    if hasattr(value, "value"):  # enums such as SchedulerType
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return asdict(value) if hasattr(value, "__dataclass_fields__") else value


def _version(name: str) -> str | None:
    if name == "cultureclip":
        from cultureclip import __version__

        return __version__
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
