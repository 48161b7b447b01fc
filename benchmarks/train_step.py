"""Training-step speed: CultureCLIPTrainer's step against the public code's step, same batch, same loss.

    python -m benchmarks.train_step                 # CPU, the ViT-B/32-shaped "small" random CLIP
    python -m benchmarks.train_step --device cuda   # on a GPU
    python -m benchmarks.train_step --bf16          # both steps under bfloat16 autocast

Both steps fine-tune the same LoRA model (the paper's setup: r4/a16 on q_proj and v_proj of every
layer of both towers) with AdamW on the same 32 CulTwin rows, drawn shuffled from twin groups of
100 caption pairs (10 captions per concept x 10 of its twin), as the real data is laid out: real
concept pairs of the curated list, with captions composed from their fields.

* ours: ONE vision forward over the 2B images, ONE text forward over the batch's distinct texts
  padded to the longest (`DataCollatorForCulTwin`, `embed_batch`), then `CultureCLIPLoss`.
* public: six encoder calls (positive images, twin images, and the four text fields), every text
  padded to 77 tokens, no de-duplication, then the same loss formula.

Collation (tokenising, image preprocessing) is done once, outside the timed region. The loss values
are compared in eval mode (no LoRA dropout) with the duplicate masks off, which is the published
formula both sides compute. Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA; on CPU the
peak rise of the process RSS above its level before the timed steps (sampled every 2 ms), after
freed memory is handed back to the OS.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import torch


def public_batch(processor, rows: list[dict]) -> dict[str, torch.Tensor]:
    """The public code's inputs: images per side, each text field padded to 77 tokens on its own."""
    batch = {}
    for side in ("pos", "neg"):
        images = [row[f"{side}_image"] for row in rows]
        batch[f"{side}_pixel_values"] = processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
        for field in ("caption", "concept"):
            texts = [row[f"{side}_{field}"] for row in rows]
            tokens = processor.tokenizer(
                texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt"
            )
            batch[f"{side}_{field}_input_ids"] = tokens["input_ids"]
            batch[f"{side}_{field}_attention_mask"] = tokens["attention_mask"]
    return batch


def public_embeds(model, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    embeds = {}
    for side in ("pos", "neg"):
        embeds[f"{side}_image_embeds"] = model.get_image_features(
            pixel_values=batch[f"{side}_pixel_values"]
        ).pooler_output
        for field in ("caption", "concept"):
            embeds[f"{side}_{field}_embeds"] = model.get_text_features(
                input_ids=batch[f"{side}_{field}_input_ids"], attention_mask=batch[f"{side}_{field}_attention_mask"]
            ).pooler_output
    return embeds


def _release_freed_memory() -> None:
    """Hand freed heap memory back to the OS (glibc), so that an earlier run's high-water mark does
    not hide the next run's allocations from the RSS measurement."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc and hasattr(ctypes.CDLL(libc), "malloc_trim"):
        ctypes.CDLL(libc).malloc_trim(0)


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak, or the peak RSS rise on CPU."""

    def __init__(self, device: torch.device):
        self.device, self.peak = device, 0

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
        else:
            import psutil

            _release_freed_memory()
            process = psutil.Process()
            self._base = process.memory_info().rss
            self._stop = threading.Event()

            def sample():
                while not self._stop.is_set():
                    self.peak = max(self.peak, process.memory_info().rss - self._base)
                    time.sleep(0.002)

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self._base
        else:
            self._stop.set()
            self._thread.join()


def time_steps(step, steps: int, warmup: int, device: torch.device) -> dict[str, float]:
    for _ in range(warmup):
        step()
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / steps
    return {"seconds_per_step": seconds, "peak_bytes": memory.peak}


def compare_train_steps(
    model_path: str, device: str, batch_size: int, steps: int, warmup: int, bf16: bool = False
) -> dict:
    """Times our training step and the public code's on the same LoRA model and batch.

    Args:
        model_path: a CLIP checkpoint folder.
        device: ``"cpu"``, ``"cuda"``, ...
        batch_size: CulTwin rows per step.
        steps: timed steps per method (after ``warmup`` untimed ones).
        bf16: run both steps under bfloat16 autocast (the paper's mixed precision).

    Returns:
        ``{"public": {...}, "ours": {...}, "speedup", "loss", ...}``: per method ``samples_per_second``,
        ``seconds_per_step`` and ``peak_bytes``; ``loss`` the published formula's value for both
        (eval mode, duplicate masks off) and ours with the masks.
    """
    from transformers import CLIPModel, CLIPProcessor

    from cultureclip.modeling import CultureCLIPLoss
    from cultureclip.testing.synthetic import synthetic_pair_rows
    from cultureclip.trainer import CultureCLIPConfig, DataCollatorForCulTwin, prepare_model
    from cultureclip.trainer.collator import ID_KEYS
    from cultureclip.trainer.cultureclip_trainer import embed_batch

    device = torch.device(device)
    processor = CLIPProcessor.from_pretrained(model_path)
    with tempfile.TemporaryDirectory() as tmp:
        config = CultureCLIPConfig(output_dir=tmp, use_cpu=device.type == "cpu", report_to="none")
    torch.manual_seed(0)
    model = prepare_model(CLIPModel.from_pretrained(model_path), config).to(device)

    rows = synthetic_pair_rows(num_twins=16, captions_per_concept=10, image_size=224, shuffle=True, curated=True)
    rows = rows[:batch_size]
    ours_batch = {k: v.to(device) for k, v in DataCollatorForCulTwin(processor)(rows).items()}
    theirs_batch = {k: v.to(device) for k, v in public_batch(processor, rows).items()}
    clip = model.get_base_model()
    ids = {key: ours_batch[key] for key in ID_KEYS}
    formula = CultureCLIPLoss(mask_duplicate_concepts=False, mask_duplicate_captions=False)
    ours_loss_fn = CultureCLIPLoss()  # what training uses: the duplicate masks on
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    def ours_loss(mask=True):
        loss_fn = ours_loss_fn if mask else formula
        with autocast:
            return loss_fn(**embed_batch(model, ours_batch), logit_scale=clip.logit_scale.exp(), **ids)["loss"]

    def theirs_loss():
        with autocast:
            return formula(**public_embeds(model, theirs_batch), logit_scale=clip.logit_scale.exp())["loss"]

    model.eval()
    with torch.no_grad():
        loss = {
            "ours": ours_loss(mask=False).item(),
            "public": theirs_loss().item(),
            "ours_masked": ours_loss().item(),
        }
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, weight_decay=0.1)

    def step(loss_fn):
        def run():
            optimizer.zero_grad(set_to_none=True)
            loss_fn().backward()
            optimizer.step()

        return run

    results = {
        "public": time_steps(step(theirs_loss), steps, warmup, device),
        "ours": time_steps(step(ours_loss), steps, warmup, device),
    }
    for result in results.values():
        result["samples_per_second"] = batch_size / result["seconds_per_step"]
    return {
        **results,
        "device": str(device),
        "batch_size": batch_size,
        "bf16": bf16,
        "steps": steps,
        "warmup": warmup,
        "speedup": results["public"]["seconds_per_step"] / results["ours"]["seconds_per_step"],
        "loss": loss,
        "text_forward_shape": list(ours_batch["input_ids"].shape),
        "caption_words": sum(len(row["pos_caption"].split()) for row in rows) / len(rows),
        "caption_tokens": theirs_batch["pos_caption_attention_mask"].sum(-1).float().mean().item(),
    }


def print_train_steps(result: dict) -> None:
    """The figures of `compare_train_steps`, one per line."""
    batch_size = result["batch_size"]
    precision = "bf16 autocast" if result["bf16"] else "fp32"
    print(
        f"device={result['device']} batch={batch_size} rows, {precision}, "
        f"{result['steps']} timed steps after {result['warmup']} warmup"
    )
    print(
        f"text forward: ours {tuple(result['text_forward_shape'])} (distinct texts x longest), "
        f"public 4 x ({batch_size}, 77)"
    )
    print(
        f"captions: {result['caption_words']:.1f} words, {result['caption_tokens']:.1f} tokens on average "
        "with this model's tokenizer"
    )
    for name in ("public", "ours"):
        timing = result[name]
        print(
            f"{name:>6}: {timing['samples_per_second']:8.2f} samples/s "
            f"({timing['seconds_per_step']:.3f} s/step), peak memory {timing['peak_bytes'] / 2**20:8.1f} MiB"
        )
    print(f"speed-up: {result['speedup']:.2f}x")
    loss = result["loss"]
    print(
        f"loss (eval mode, published formula): ours {loss['ours']:.6f} public {loss['public']:.6f} "
        f"|diff| {abs(loss['ours'] - loss['public']):.2e}; ours with the duplicate masks {loss['ours_masked']:.6f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--model", help="a CLIP checkpoint; default: build the 'small' (ViT-B/32-shaped) random CLIP")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per method")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per method first")
    parser.add_argument("--bf16", action="store_true", help="both steps under bfloat16 autocast")
    args = parser.parse_args(argv)

    from cultureclip.testing import TinyModelsConfig, make_tiny_models

    with tempfile.TemporaryDirectory() as tmp:
        model_path = (
            args.model or make_tiny_models(Path(tmp), TinyModelsConfig.from_preset("small"), kinds=("clip",))["clip"]
        )
        result = compare_train_steps(str(model_path), args.device, args.batch_size, args.steps, args.warmup, args.bf16)
    print_train_steps(result)


if __name__ == "__main__":
    main()
