"""The base CLIP of TwinWorld: a small CLIPModel trained from scratch on generic captions.

Generic captions name the kind, colour and pattern of an object and never its culture or mark,
so the base model is good at the general task and blind to the twin detail, like a web-trained
CLIP that has seen the objects but not the cultural distinction.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cultureclip.testing.tiny_models import ClipShape

from .render import Difficulty
from .samples import draw_sample, draw_tile
from .world import corpus, generic_caption, tile_caption

BASE_SHAPE = ClipShape(
    vision_width=64,
    vision_layers=3,
    vision_heads=4,
    image_size=48,
    patch_size=8,
    text_width=64,
    text_layers=2,
    text_heads=4,
    max_text_length=32,
    projection_dim=64,
)


@dataclass(frozen=True)
class PretrainConfig:
    """How the base CLIP is trained.

    Args:
        shape: the CLIP architecture (both towers).
        num_images: distinct generic (image, caption) pairs rendered for pretraining.
        tile_fraction: the share of them that are culture-free shape tiles (`world.TILE_TEMPLATES`).
        steps: optimiser steps; batch_size: pairs per step; learning_rate: AdamW peak rate
            (linear warm-up over ``warmup_steps``, cosine decay).
        seed: seed of the weights, the images and the batches.
    """

    shape: ClipShape = BASE_SHAPE
    num_images: int = 4000
    tile_fraction: float = 0.25
    steps: int = 1000
    batch_size: int = 128
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 0.1
    seed: int = 0

    def __post_init__(self):
        for name in ("num_images", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1.")
        if self.batch_size > self.num_images:
            raise ValueError(f"batch_size={self.batch_size} exceeds num_images={self.num_images}; lower it.")
        if not 0 <= self.tile_fraction < 1:
            raise ValueError(f"tile_fraction={self.tile_fraction} must be in [0, 1).")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate={self.learning_rate} must be in (0, 1).")


def build_base_model(shape: ClipShape, seed: int):
    """A randomly initialised ``CLIPModel`` and a ``CLIPProcessor`` whose tokenizer knows the world."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    from cultureclip.testing.tiny_models import build_clip_tokenizer, clip_configs, clip_image_processor

    tokenizer = build_clip_tokenizer(2048, shape.max_text_length, corpus=corpus())
    text, vision = clip_configs(shape, len(tokenizer))
    config = CLIPConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=shape.projection_dim
    )
    torch.manual_seed(seed)
    processor = CLIPProcessor(image_processor=clip_image_processor(shape.image_size), tokenizer=tokenizer)
    return CLIPModel(config), processor


def _lr_lambda(config: PretrainConfig):
    import math

    def schedule(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return schedule


def pretrain(out_dir: str | Path, config: PretrainConfig, difficulty: Difficulty, log=print) -> Path:
    """Trains the base CLIP with transformers' contrastive loss and saves model + processor.

    Returns ``out_dir``, loadable with ``CLIPModel.from_pretrained`` / ``CLIPProcessor.from_pretrained``.
    """
    import torch

    if config.shape.image_size != difficulty.image_size:
        raise ValueError(
            f"The model sees {config.shape.image_size} px but the world renders {difficulty.image_size} px; "
            "make shape.image_size equal to difficulty.image_size."
        )
    start = time.perf_counter()
    model, processor = build_base_model(config.shape, config.seed)
    num_tiles = round(config.tile_fraction * config.num_images)
    samples = [draw_sample(config.seed, "pretrain", i, difficulty) for i in range(config.num_images - num_tiles)]
    tiles = [draw_tile(config.seed, "pretrain", i, difficulty) for i in range(num_tiles)]
    images = [s.image(difficulty) for s in samples] + [t.image(difficulty) for t in tiles]
    captions = [generic_caption(s.concept.kind, s.colour, s.pattern, s.template) for s in samples]
    captions += [tile_caption(t.mark_words, t.colour, t.pattern, t.template) for t in tiles]
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    texts = processor(text=captions, padding=True, return_tensors="pt")
    log(f"pretrain: rendered {len(images)} images ({num_tiles} shape tiles) in {time.perf_counter() - start:.1f}s")

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config))
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    losses = []
    for step in range(config.steps):
        batch = torch.randint(len(images), (config.batch_size,), generator=generator)
        out = model(
            input_ids=texts["input_ids"][batch],
            attention_mask=texts["attention_mask"][batch],
            pixel_values=pixels[batch],
            return_loss=True,
        )
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(out.loss.detach())
        if (step + 1) % 100 == 0 or step + 1 == config.steps:
            recent = torch.stack(losses[-100:]).mean().item()
            log(f"pretrain: step {step + 1}/{config.steps} loss {recent:.3f} ({time.perf_counter() - start:.0f}s)")
    model.eval()
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    record = {"config": asdict(config), "difficulty": asdict(difficulty), "final_loss": losses[-1].item()}
    (out_dir / "pretrain.json").write_text(json.dumps(record, indent=2) + "\n")
    return out_dir
