"""``cultureclip make-tiny-models DIR``."""

from __future__ import annotations

from pathlib import Path

from cultureclip.cli_args import ArgumentParser
from cultureclip.output_dirs import atomic_output_dir

from .tiny_models import KINDS, PRESETS, TinyModelsConfig, make_tiny_models

PAPER = "paper"


def main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="cultureclip make-tiny-models",
        description=(
            "Build random-weight checkpoints (DIR/clip, DIR/diffusion, DIR/llm, DIR/vlm) that load "
            "through the standard transformers/diffusers APIs with no network. Plumbing models: "
            "they show that the code runs, not that it works well. The folder is built beside DIR and renamed "
            "into place last."
        ),
        epilog="example:\n  cultureclip make-tiny-models tiny-models --kinds clip,diffusion",
    )
    parser.add_argument("output_dir", metavar="DIR", help="a new or empty folder for the checkpoints")
    parser.add_argument("--overwrite", action="store_true", help="replace DIR if cultureclip built it")
    parser.add_argument(
        "--preset",
        choices=sorted([*PRESETS, PAPER]),
        default="tiny",
        help="'tiny' for tests (seconds); 'small' is a ViT-B/32-shaped CLIP for benchmarks; 'paper' builds "
        "replicas of the paper's checkpoints (CLIP ViT-B/32, Qwen2.5-VL-7B-Instruct, SD 3.5 Large Turbo) "
        "that keep everything but their size",
    )
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of the kinds of checkpoint")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    args = parser.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        parser.error(f"--kinds has unknown kind(s) {bad}; choose from {','.join(KINDS)}.")
    with atomic_output_dir(args.output_dir, overwrite=args.overwrite) as staged:
        if args.preset == PAPER:
            from .replicas import make_paper_replicas

            made = make_paper_replicas(staged, kinds, seed=args.seed)
        else:
            made = make_tiny_models(staged, TinyModelsConfig.from_preset(args.preset, seed=args.seed), kinds)
    for kind, path in made.items():
        print(f"{kind:<9} {Path(args.output_dir) / path.relative_to(staged)}")
    return 0
