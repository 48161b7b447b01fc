"""``cultureclip make-tiny-models DIR``."""

from __future__ import annotations

import argparse

from .tiny_models import KINDS, PRESETS, TinyModelsConfig, make_tiny_models

PAPER = "paper"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="cultureclip make-tiny-models",
        description=(
            "Build random-weight checkpoints (DIR/clip, DIR/diffusion, DIR/llm, DIR/vlm) that load "
            "through the standard transformers/diffusers APIs with no network. Plumbing models: "
            "they show that the code runs, not that it works well."
        ),
    )
    parser.add_argument("output_dir", metavar="DIR")
    parser.add_argument(
        "--preset",
        choices=sorted([*PRESETS, PAPER]),
        default="tiny",
        help="'tiny' for tests (seconds); 'small' is a ViT-B/32-shaped CLIP for benchmarks; 'paper' builds "
        "replicas of the paper's checkpoints (CLIP ViT-B/32, Qwen2.5-VL-7B-Instruct, SD 3.5 Large Turbo) "
        "that keep everything but their size",
    )
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help=f"comma-separated subset of {','.join(KINDS)} (default: all)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        parser.error(f"--kinds has unknown kind(s) {bad}; choose from {','.join(KINDS)}.")
    if args.preset == PAPER:
        from .replicas import make_paper_replicas

        paths = make_paper_replicas(args.output_dir, kinds, seed=args.seed)
    else:
        paths = make_tiny_models(args.output_dir, TinyModelsConfig.from_preset(args.preset, seed=args.seed), kinds)
    for kind, path in paths.items():
        print(f"{kind:<9} {path}")
    return 0
