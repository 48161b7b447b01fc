"""Scale of a CulTwin release: build time and memory, bytes against the unique image bytes, loading.

    python -m benchmarks.scale                                # 60, 600 and 6,000 twin pairs x 100 caption pairs
    python -m benchmarks.scale --sizes 4,8 --captions 2      # a quick run

For each size, a synthetic finished run folder (`write_synthetic_run`: records and distinct
random-noise PNGs, no models) is built with ``cultureclip build-dataset`` in a fresh process, which
reports its wall time and peak RSS. Then: the release's bytes against the unique image bytes
(``ratio``; the target is 1.1 or less, plus the text); ``load_dataset`` of both configs in a fresh
process with an empty cache; the pixel cache of the train split's images (the tiny CLIP processor,
32 px; every image decoded and preprocessed once, as ``cultureclip train`` does first), its build
time with 2 workers and its size; and the throughput of `DataCollatorForCulTwin` reading it over
shuffled train pairs with 0 and 2 ``DataLoader`` workers, over at most ``--batches`` batches after
the first. The last lines give how each figure grows from the
smallest size to the largest against the number of pairs (time should grow like it, memory stay flat).
Everything is written under a temporary folder, removed size by size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Peak RSS is the process's VmHWM: ``ru_maxrss`` would count the parent's RSS, which Linux carries over exec.
BUILD = """
import json, re, sys, time
from pathlib import Path
from cultureclip.cli import main
start = time.perf_counter()
code = main(["build-dataset", sys.argv[1], "--output-dir", sys.argv[2]])
seconds = time.perf_counter() - start
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(json.dumps({"code": code, "seconds": seconds, "peak_rss_mb": peak_kb / 1024}))
"""

LOAD = """
import json, sys, time
from datasets import load_dataset
start = time.perf_counter()
rows = sum(len(d) for d in load_dataset(sys.argv[1]).values())
load_dataset(sys.argv[1], "concepts")
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start}))
"""


def _child(code: str, *args: str, cache: Path) -> dict:
    import os

    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    result = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}
    if done.returncode or result.get("code"):
        raise RuntimeError(f"the child process failed:\n{done.stderr[-3000:]}")
    return result


def _bytes(paths) -> int:
    return sum(path.stat().st_size for path in paths)


def processor():
    """The tiny CLIP processor (32 px, a small BPE tokenizer), made without a model."""
    from transformers import CLIPProcessor

    from cultureclip.testing.tiny_models import build_clip_tokenizer, clip_image_processor

    return CLIPProcessor(image_processor=clip_image_processor(32), tokenizer=build_clip_tokenizer(512))


def train_images(release: Path, cache: Path):
    """The train split's `ConceptImages`, read as ``cultureclip train`` reads them."""
    from datasets import load_dataset

    from cultureclip.trainer.images import ConceptImages

    return ConceptImages(load_dataset(str(release), "concepts", split="train", cache_dir=str(cache)))


def pixel_cache(release: Path, cache: Path) -> dict:
    """Build the train images' pixel cache with 2 workers: seconds and MB."""
    images = train_images(release, cache)
    start = time.perf_counter()
    folder = images.cache_pixels(processor().image_processor, cache / "pixels", num_workers=2)
    return {"pixel_cache_s": time.perf_counter() - start, "pixel_cache_mb": _bytes(folder.iterdir()) / 1e6}


def collator_throughput(release: Path, workers: int, batch_size: int, batches: int, cache: Path) -> float:
    """Caption pairs per second through `DataCollatorForCulTwin` reading the pixel cache, after the first batch."""
    import torch
    from datasets import load_dataset

    from cultureclip.trainer import DataCollatorForCulTwin

    pairs = load_dataset(str(release), split="train", cache_dir=str(cache))
    images = train_images(release, cache)
    images.cache_pixels(processor().image_processor, cache / "pixels")  # built by `pixel_cache`
    collate = DataCollatorForCulTwin(processor(), images)
    generator = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(
        pairs, batch_size=batch_size, shuffle=True, collate_fn=collate, num_workers=workers, generator=generator
    )
    iterator = iter(loader)
    next(iterator)  # worker start-up and the first batch are not timed
    start, rows = time.perf_counter(), 0
    for _, batch in zip(range(batches), iterator):
        rows += len(batch["pos_caption_index"])
    return rows / (time.perf_counter() - start) if rows else float("nan")


def measure(root: Path, twin_pairs: int, captions: int, image_size: int, batch_size: int, batches: int) -> dict:
    from cultureclip.testing.synthetic_run import write_synthetic_run

    run_dir, release, cache = root / "run", root / "release", root / "cache"
    write_synthetic_run(run_dir, twin_pairs, captions, image_size)
    built = _child(BUILD, str(run_dir), str(release), cache=cache)
    images = _bytes((run_dir / "images").glob("*.png"))
    loaded = _child(LOAD, str(release), cache=cache / "load")
    return {
        "twin_pairs": twin_pairs,
        "pairs": loaded["rows"],
        "images": 2 * twin_pairs * captions,
        "build_s": built["seconds"],
        "build_peak_rss_mb": built["peak_rss_mb"],
        "image_mb": images / 1e6,
        "pairs_mb": _bytes(release.glob("pairs/*.parquet")) / 1e6,
        "release_mb": _bytes(release.glob("*/*.parquet")) / 1e6,
        "load_s": loaded["seconds"],
        **pixel_cache(release, cache / "rows"),
        **{
            f"pairs_per_s_{workers}_workers": collator_throughput(
                release, workers, batch_size, batches, cache / "rows"
            )
            for workers in (0, 2)
        },
    }


def format_table(results: list[dict]) -> str:
    """The figures as a Markdown table, then their growth from the smallest size to the largest."""
    columns = [
        "twin pairs",
        "pair rows",
        "images",
        "build s",
        "build peak RSS MB",
        "unique image MB",
        "release MB (pairs)",
        "release / images",
        "load_dataset s",
        "pixel cache s (MB)",
        "pairs/s 0 workers",
        "pairs/s 2 workers",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        lines.append(
            f"| {r['twin_pairs']:,} | {r['pairs']:,} | {r['images']:,} | {r['build_s']:.1f} | {r['build_peak_rss_mb']:.0f} "
            f"| {r['image_mb']:.1f} | {r['release_mb']:.1f} ({r['pairs_mb']:.1f}) | {r['release_mb'] / r['image_mb']:.2f} "
            f"| {r['load_s']:.1f} | {r['pixel_cache_s']:.1f} ({r['pixel_cache_mb']:.0f}) | {r['pairs_per_s_0_workers']:.0f} | {r['pairs_per_s_2_workers']:.0f} |"
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = last["pairs"] / first["pairs"]
        lines.append("")
        lines.append(f"From {first['pairs']:,} to {last['pairs']:,} pair rows (x{growth:.0f}):")
        timings = [("build_s", "build time"), ("load_s", "load_dataset time"), ("pixel_cache_s", "pixel cache time")]
        for key, name in (*timings, ("release_mb", "release bytes")):
            lines.append(f"- {name}: x{last[key] / first[key]:.1f}")
        lines.append(f"- build peak RSS: x{last['build_peak_rss_mb'] / first['build_peak_rss_mb']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="60,600,6000", help="twin pairs per size, comma-separated")
    parser.add_argument("--captions", type=int, default=10, help="captions (and images) per concept")
    parser.add_argument("--image-size", type=int, default=48, help="side of the generated PNGs, in pixels")
    parser.add_argument("--batch-size", type=int, default=256, help="collator batch size")
    parser.add_argument("--batches", type=int, default=20, help="batches timed per collator measurement")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    results = []
    for twin_pairs in sizes:
        root = Path(tempfile.mkdtemp(prefix=f"cultwin-scale-{twin_pairs}-"))
        try:
            results.append(measure(root, twin_pairs, args.captions, args.image_size, args.batch_size, args.batches))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
