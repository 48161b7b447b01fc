"""What trains: LoRA adapters on chosen layers of chosen towers (or every weight), and CLIP's temperature."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .config import parse_lora_layers

if TYPE_CHECKING:
    from transformers import CLIPModel

    from .config import CultureCLIPConfig

TOWER_MODULES = {"vision": "vision_model", "text": "text_model"}
LOGIT_SCALE_FILE = "logit_scale.json"


def lora_layer_indices(spec: str, num_layers: int) -> list[int]:
    """The encoder layers of a tower with ``num_layers`` layers that ``lora_layers=spec`` selects."""
    layers = parse_lora_layers(spec)
    if layers == "all":
        return list(range(num_layers))
    if layers == "top_half":
        return list(range(num_layers // 2, num_layers))
    if layers == "bottom_half":
        return list(range(num_layers // 2))
    too_deep = [layer for layer in layers if layer >= num_layers]
    if too_deep:
        raise ValueError(
            f"lora_layers={spec!r} names layers {too_deep} but a tower has only {num_layers} layers "
            f"(0..{num_layers - 1}); pick indices below {num_layers}."
        )
    return layers


def lora_target_regex(model: CLIPModel, config: CultureCLIPConfig) -> str:
    """A PEFT ``target_modules`` regex: the chosen linear layers of the chosen encoder layers of each tower.

    The towers can have different depths (ViT-L/14: 24 vision, 12 text layers), so the layer
    positions are resolved per tower.
    """
    parts = []
    for tower in config.lora_towers:
        num_layers = getattr(model.config, f"{tower}_config").num_hidden_layers
        layers = "|".join(map(str, lora_layer_indices(config.lora_layers, num_layers)))
        parts.append(rf"{TOWER_MODULES[tower]}\.encoder\.layers\.({layers})\.")
    targets = "|".join(map(re.escape, config.lora_target_modules))
    return rf".*({'|'.join(parts)}).*\b({targets})$"


def prepare_model(model: CLIPModel, config: CultureCLIPConfig):
    """Set what trains, following ``config``: returns a ``PeftModel`` (LoRA) or the model itself (full).

    With LoRA every base weight is frozen and the adapters train. ``logit_scale`` trains only with
    ``config.train_logit_scale`` (it is a bare ``Parameter``, which LoRA cannot adapt).
    """
    if config.finetuning == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=lora_target_regex(model, config),
            bias="none",
        )
        model = get_peft_model(model, lora)
    else:
        model.requires_grad_(True)
    clip_model(model).logit_scale.requires_grad_(config.train_logit_scale)
    return model


def clip_model(model) -> CLIPModel:
    """The ``CLIPModel`` inside a ``PeftModel`` (or the model itself)."""
    from peft import PeftModel

    return model.get_base_model() if isinstance(model, PeftModel) else model


def save_logit_scale(model, folder: str | Path) -> None:
    """Write a trained ``logit_scale`` beside a PEFT adapter, which cannot hold a bare ``Parameter``.

    Only for a ``PeftModel`` whose ``logit_scale`` trains; a fully fine-tuned model saves it with
    its weights.
    """
    from peft import PeftModel

    scale = clip_model(model).logit_scale
    if isinstance(model, PeftModel) and scale.requires_grad:
        Path(folder, LOGIT_SCALE_FILE).write_text(json.dumps({"logit_scale": scale.item()}) + "\n")


def load_logit_scale(model, folder: str | Path) -> None:
    """Restore the ``logit_scale`` that `save_logit_scale` wrote into ``folder`` (if it wrote one)."""
    import torch

    path = Path(folder, LOGIT_SCALE_FILE)
    if path.is_file():
        with torch.no_grad():
            clip_model(model).logit_scale.fill_(json.loads(path.read_text())["logit_scale"])
