"""GlobalRG-Retrieval: our evaluation vs the public script's loop, same data, same loaded model.

The public script runs one forward pass per question, the image with its four option texts,
re-encoding every text each time. Ours encodes each distinct image and text once, in batches.
Both walk the same local data (generated here) with the same protocol and must predict the same
option for every question. The script also times the image tower alone on every image, batched,
already decoded and preprocessed: each image must go through it once whatever the method, so
public time / tower time is the most any method with the same predictions can gain here.

    python benchmarks/evaluate.py                  # a ViT-B/32-shaped random CLIP, CPU
    python benchmarks/evaluate.py --device cuda    # on a GPU
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# Run as a script, this folder comes first on sys.path, and this file would shadow the `evaluate` library.
sys.path[0] = str(Path(__file__).parents[1])

REGIONS = ("Africa", "East Asia", "South Asia", "Europe", "North America", "South America", "Oceania", "Middle East")
UNIVERSALS = ("bread", "wedding", "hat", "festival", "house", "instrument", "dance", "market", "boat", "dessert")


def make_dataset(items: int, image_size: int, seed: int = 0):
    """``items`` rows of (image, universal, region): distinct noise-and-gradient PNG images."""
    import numpy as np
    from datasets import Dataset, Features, Image, Value

    rng = np.random.default_rng(seed)
    rows = {"image": [], "universal": [], "region": []}
    for index in range(items):
        pixels = rng.integers(0, 256, (image_size, image_size, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        from PIL import Image as PILImage

        PILImage.fromarray(pixels).save(buffer, format="PNG")
        rows["image"].append({"bytes": buffer.getvalue(), "path": None})
        rows["universal"].append(UNIVERSALS[index % len(UNIVERSALS)])
        rows["region"].append(REGIONS[(index // len(UNIVERSALS)) % len(REGIONS)])
    features = Features({"image": Image(), "universal": Value("string"), "region": Value("string")})
    return Dataset.from_dict(rows, features=features)


def public_loop(model, processor, dataset, device) -> list[dict]:
    """The public script's procedure (with sorted candidates): one forward pass per question."""
    import torch

    random.seed(42)
    regions_of = defaultdict(set)
    for universal, region in zip(dataset["universal"], dataset["region"]):
        regions_of[universal].add(region)
    answers = []
    for item in dataset:
        universal, region = item["universal"], item["region"]
        if len(regions_of[universal]) < 4:
            continue
        wrong = random.sample(sorted(regions_of[universal] - {region}), 3)
        options = [f"The picture depicts a kind of {universal} in {region}"]
        options += [f"The picture depicts a kind of {universal} in {other}" for other in wrong]
        random.shuffle(options)
        inputs = processor(text=options, images=item["image"], return_tensors="pt", padding=True)
        with torch.inference_mode():
            logits = model(**inputs.to(device)).logits_per_image
        answers.append({"options": options, "predicted_idx": int(logits.argmax())})
    return answers


def image_tower_seconds(model, processor, dataset, device, batch_size: int) -> float:
    """Seconds the vision tower takes on every image, in batches, with decoding and preprocessing done beforehand."""
    import torch

    images = list(dataset["image"])  # as `datasets` decodes them; the processor converts to RGB
    pixels = processor.image_processor(images=images, return_tensors="pt")["pixel_values"].to(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(pixels), batch_size):
            model.get_image_features(pixel_values=pixels[first : first + batch_size])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare_evaluation(model_path: str, device: str, items: int, image_size: int, batch_size: int) -> dict:
    """Times GlobalRG-Retrieval: our batched evaluation against the public per-question loop.

    Args:
        model_path: a CLIP checkpoint folder.
        device: ``"cpu"``, ``"cuda"``, ...
        items: rows of the generated GlobalRG-Retrieval data.
        image_size: pixel size of its images.
        batch_size: our encoder's batch size (also the image tower's, for the ceiling).

    Returns:
        ``{"questions", "public_seconds", "ours_seconds", "speedup", "image_tower_seconds", "ceiling"}``.

    Raises:
        AssertionError: if the two methods ask different options or predict differently.
    """
    from transformers import CLIPModel, CLIPProcessor

    from cultureclip.evaluation import evaluate, load_encoder

    model = CLIPModel.from_pretrained(model_path).to(device).eval()
    processor = CLIPProcessor.from_pretrained(model_path)
    dataset = make_dataset(items, image_size)

    start = time.perf_counter()
    public = public_loop(model, processor, dataset, device)
    public_s = time.perf_counter() - start

    start = time.perf_counter()
    encoder = load_encoder(model, processor, batch_size=batch_size)
    ours = evaluate(encoder, "globalrg-retrieval", dataset, use_cache=False)
    ours_s = time.perf_counter() - start

    tower_s = image_tower_seconds(model, processor, dataset, device, batch_size)
    assert [item["options"] for item in ours["items"]] == [item["options"] for item in public], "options differ"
    assert [item["predicted_idx"] for item in ours["items"]] == [item["predicted_idx"] for item in public]
    return {
        "device": device,
        "items": len(dataset),
        "questions": len(public),
        "public_seconds": public_s,
        "ours_seconds": ours_s,
        "speedup": public_s / ours_s,
        "image_tower_seconds": tower_s,
        "ceiling": public_s / tower_s,
    }


def print_evaluation(result: dict) -> None:
    """The figures of `compare_evaluation`, one per line."""
    print(f"identical options and predictions on {result['questions']} questions")
    print(f"public loop (one forward pass per question): {result['public_seconds']:8.2f} s")
    print(
        f"ours (batched, each image and text once):    {result['ours_seconds']:8.2f} s  (includes hashing images and weights)"
    )
    print(f"speed-up: {result['speedup']:.2f}x")
    print(f"image tower alone, each image once, batched:  {result['image_tower_seconds']:8.2f} s")
    print(f"ceiling for any method with these predictions: {result['ceiling']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", help="a CLIP checkpoint to use instead of building the 'small' random one")
    args = parser.parse_args(argv)

    from cultureclip.testing import TinyModelsConfig, make_tiny_models

    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or str(make_tiny_models(tmp, TinyModelsConfig.from_preset("small"), kinds=("clip",))["clip"])
        print(f"{args.items} items, model {path if args.model else 'small (ViT-B/32 shape)'}, device {args.device}")
        result = compare_evaluation(path, args.device, args.items, args.image_size, args.batch_size)
    print_evaluation(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
