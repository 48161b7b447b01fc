"""Throughput of the generation stages' model calls: batched against one item at a time.

Images/s of the diffusion stage (`cultureclip.dataset_builder.images.generate_images`) and captions/s of the
caption stage's language model (`cultureclip.dataset_builder.backends.TransformersChat`, the captions prompt
rendered for curated concepts), each with the configured batch size and with batch size 1, on the
tiny random-weight models (CPU by default). Model loading is outside the timings.

`diffusion_throughput` and `vlm_throughput` measure one checkpoint on one device (images/s and peak
memory; generated tokens/s) for the GPU check on the paper replicas.

    python benchmarks/generate.py [--models-dir tiny-models] [--items 32] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bench_images(model: str, captions, batch_size: int, steps: int) -> float:
    """Images per second for ``captions`` in batches of ``batch_size``."""
    from cultureclip.dataset_builder.config import DiffusionConfig
    from cultureclip.dataset_builder.images import generate_images, load_pipeline
    from cultureclip.dataset_builder.run_folder import item_seed

    config = DiffusionConfig(model=model, resolution=64, steps=steps, batch_size=batch_size, dtype="float32")
    pipe = load_pipeline(model, config.dtype, "cpu")
    seeds = [item_seed(0, c.caption_id) for c in captions]
    generate_images(pipe, captions[:1], seeds[:1], config)  # warm-up

    def run():
        for start in range(0, len(captions), batch_size):
            generate_images(pipe, captions[start : start + batch_size], seeds[start : start + batch_size], config)

    return len(captions) / timed(run)


def bench_captions(model: str, prompts: list[str], batch_size: int, max_new_tokens: int, per_prompt: int) -> float:
    """Captions per second (each answer asks for ``per_prompt`` captions) in batches of ``batch_size``."""
    from cultureclip.dataset_builder.backends import ChatRequest, TransformersChat
    from cultureclip.dataset_builder.config import ModelConfig

    chat = TransformersChat(
        ModelConfig(
            model, task="text-generation", max_new_tokens=max_new_tokens, batch_size=batch_size, dtype="float32"
        )
    )
    requests = [ChatRequest([{"role": "user", "content": p}], i) for i, p in enumerate(prompts)]
    chat.generate(requests[:1])  # warm-up
    return len(prompts) * per_prompt / timed(lambda: chat.generate(requests))


def caption_inputs(items: int):
    """``items`` captions composed for curated concepts, and the captions prompt rendered for each."""
    from string import Template

    from cultureclip.dataset_builder.captions import caption_id, compose, compose_templates
    from cultureclip.dataset_builder.curated import load_curated
    from cultureclip.dataset_builder.pipeline import load_prompt
    from cultureclip.dataset_builder.records import Caption

    concepts = [c for t in load_curated() for c in (t.pos, t.neg)]
    concepts = (concepts * (items // len(concepts) + 1))[:items]
    templates = compose_templates(load_prompt("caption_compose"))
    captions = [
        Caption(caption_id(c.concept_id, i), c.concept_id, 0, compose(c, templates, 1, 20)[0])
        for i, c in enumerate(concepts)
    ]
    prompts = [
        Template(load_prompt("captions")).substitute(
            count=10,
            max_words=20,
            concept=c.concept,
            country=c.country,
            category=c.category,
            context=c.context,
            visual_features=c.visual_features,
            example_concept=concepts[0].concept,
            example_captions=captions[0].text,
        )
        for c in concepts
    ]
    return captions, prompts


def _peak_memory_mb(device) -> tuple[float, str]:
    """Peak memory since the last reset: CUDA allocations on a GPU, the process's peak RSS on CPU."""
    import resource

    import torch

    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process peak RSS"


def _reset_peak_memory(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _synchronize(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def diffusion_throughput(model_dir: str, device: str, resolution: int, steps: int, n_images: int) -> dict:
    """Images/s of the images stage's pipeline call (batches of 8, guidance 0, float16 on a GPU and
    float32 on CPU) for ``n_images`` captions, after one warm-up image, and the peak memory."""
    from cultureclip.dataset_builder.config import DiffusionConfig
    from cultureclip.dataset_builder.images import generate_images, load_pipeline
    from cultureclip.dataset_builder.run_folder import item_seed

    dtype = "float32" if device == "cpu" else "float16"
    config = DiffusionConfig(model=str(model_dir), resolution=resolution, steps=steps, batch_size=8, dtype=dtype)
    pipe = load_pipeline(config.model, dtype, device)
    captions, _ = caption_inputs(n_images)
    seeds = [item_seed(0, c.caption_id) for c in captions]
    generate_images(pipe, captions[:1], seeds[:1], config)
    _reset_peak_memory(device)

    def run():
        for start in range(0, n_images, config.batch_size):
            end = start + config.batch_size
            generate_images(pipe, captions[start:end], seeds[start:end], config)
        _synchronize(device)

    seconds = timed(run)
    memory, kind = _peak_memory_mb(device)
    return {
        "images_per_s": n_images / seconds,
        "seconds": seconds,
        "peak_memory_mb": memory,
        "memory": kind,
        "device": device,
        "dtype": dtype,
        "resolution": resolution,
        "steps": steps,
        "n_images": n_images,
    }


def vlm_throughput(model_dir: str, device: str, max_new_tokens: int, n_prompts: int) -> dict:
    """Generated tokens/s of the vision-language model on the captions prompt (text only, as the
    captions stage sends it), ``n_prompts`` prompts in one left-padded batch, exactly
    ``max_new_tokens`` tokens each (bfloat16 on a GPU, float32 on CPU), after a warm-up."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    _, prompts = caption_inputs(n_prompts)
    chats = [[{"role": "user", "content": p}] for p in prompts]
    inputs = tokenizer.apply_chat_template(
        chats, add_generation_prompt=True, padding=True, return_tensors="pt", return_dict=True
    ).to(device)
    budget = {"max_new_tokens": max_new_tokens, "min_new_tokens": max_new_tokens, "do_sample": False}

    def run():
        with torch.no_grad():
            model.generate(**inputs, **budget)
        _synchronize(device)

    run()
    _reset_peak_memory(device)
    seconds = timed(run)
    memory, kind = _peak_memory_mb(device)
    tokens = n_prompts * max_new_tokens
    return {
        "tokens_per_s": tokens / seconds,
        "generated_tokens": tokens,
        "seconds": seconds,
        "peak_memory_mb": memory,
        "memory": kind,
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
        "prompt_tokens": int(inputs["input_ids"].shape[1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", help="a make-tiny-models folder (default: build one in a temporary folder)")
    parser.add_argument("--items", type=int, default=32, help="images and caption prompts per measurement")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="diffusion steps")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        models_dir = Path(args.models_dir) if args.models_dir else Path(tmp)
        if not args.models_dir:
            from cultureclip.testing import make_tiny_models

            make_tiny_models(models_dir, kinds=("diffusion", "llm"))
        captions, prompts = caption_inputs(args.items)
        rows = []
        for label, bench in (
            ("images/s", lambda b: bench_images(str(models_dir / "diffusion"), captions, b, args.steps)),
            ("captions/s", lambda b: bench_captions(str(models_dir / "llm"), prompts, b, args.max_new_tokens, 10)),
        ):
            batched, single = bench(args.batch_size), bench(1)
            rows.append((label, batched, single))
    print(f"{args.items} items, tiny models, CPU; batch size {args.batch_size} vs 1")
    for label, batched, single in rows:
        print(f"{label:<11} batched {batched:8.2f}   one at a time {single:8.2f}   ratio {batched / single:5.2f}x")


if __name__ == "__main__":
    main()
