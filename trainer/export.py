"""What a training run leaves behind: the merged model, the adapter and ``training_record.json``."""

from __future__ import annotations

from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from cultureclip.schemas import TRAINING_FIELDS, TrainingData, TrainingRecord

from .config import CultureCLIPConfig
from .lora import save_logit_scale

if TYPE_CHECKING:
    from transformers import CLIPProcessor

    from .data import DataArguments

MERGED_DIR = "merged"
ADAPTER_DIR = "adapter"
RECORD_FILE = TrainingRecord.FILE
RECORD_LIBRARIES = ("torch", "transformers", "peft", "datasets", "accelerate", "cultureclip")


def export_model(model, processor: CLIPProcessor, output_dir: str | Path) -> dict[str, Path | None]:
    """Save the adapter (LoRA runs) to ``output_dir/adapter`` and a plain ``CLIPModel`` to ``output_dir/merged``.

    The merged folder holds safetensors weights, the config and the processor: it loads with
    ``CLIPModel.from_pretrained`` and ``pipeline("zero-shot-image-classification")`` without peft.
    With a LoRA model this merges the adapters into the weights in place (the model is a plain
    ``CLIPModel`` afterwards); export last. Each folder is written beside its place and renamed
    into it last (`cultureclip.output_dirs.atomic_output_dir`), so a kill never leaves half a model.

    Returns:
        ``{"merged": Path, "adapter": Path | None}``.
    """
    from peft import PeftModel

    from cultureclip.output_dirs import atomic_output_dir

    output_dir = Path(output_dir)
    adapter_dir = None
    if isinstance(model, PeftModel):
        adapter_dir = output_dir / ADAPTER_DIR
        with atomic_output_dir(adapter_dir, overwrite=True) as staged:
            model.save_pretrained(staged)
            save_logit_scale(model, staged)
        model = model.merge_and_unload()
    merged_dir = output_dir / MERGED_DIR
    with atomic_output_dir(merged_dir, overwrite=True) as staged:
        model.save_pretrained(staged)
        processor.save_pretrained(staged)
    return {"merged": merged_dir, "adapter": adapter_dir}


def training_record(
    config: CultureCLIPConfig,
    data: DataArguments,
    dataset_fingerprint: str | None,
    dropped_rows: int,
    train_rows: int,
    metrics: dict[str, float],
) -> TrainingRecord:
    """The facts of a run that the model card and a reader who wants to reproduce it need
    (`cultureclip.schemas.TrainingRecord`).

    The dataset is named by its Hub id or its absolute local folder; ``dataset.revision`` is the
    commit read from the Hub (in offline mode, the revision as requested). ``training`` holds every
    field of `cultureclip.schemas.TRAINING_FIELDS` plus ``world_size`` and ``effective_batch_size``
    (per device x accumulation x world size); ``libraries`` the versions of `RECORD_LIBRARIES`;
    ``metrics`` the final train (and eval) metrics the Trainer reported, whose ``train_loss`` and
    ``train_runtime`` cover the whole run, across ``--resume_from_checkpoint``.
    """
    settings = {name: _plain(getattr(config, name)) for name in TRAINING_FIELDS}
    settings["world_size"] = config.world_size
    settings["effective_batch_size"] = (
        config.per_device_train_batch_size * config.gradient_accumulation_steps * config.world_size
    )
    dataset_id = data.dataset
    if dataset_id and Path(dataset_id).exists():
        dataset_id = str(Path(dataset_id).resolve())
    return TrainingRecord(
        base_model=data.base_model,
        base_model_revision=data.base_model_revision,
        dataset=TrainingData(
            id=dataset_id,
            config=data.dataset_config,
            split=data.train_split,
            eval_split=data.eval_split,
            revision=data.dataset_revision,
            fingerprint=dataset_fingerprint,
            train_rows=train_rows,
            dropped_rows=dropped_rows,
        ),
        training=settings,
        metrics=metrics,
        libraries={name: _version(name) for name in RECORD_LIBRARIES},
        exports={"merged": MERGED_DIR, "adapter": ADAPTER_DIR if config.finetuning == "lora" else None},
    )


def write_training_record(record: TrainingRecord, output_dir: str | Path) -> Path:
    """Write `training_record` output as ``output_dir/training_record.json``."""
    return record.write(Path(output_dir) / RECORD_FILE)


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
