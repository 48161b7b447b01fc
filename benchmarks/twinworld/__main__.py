"""``python -m benchmarks.twinworld --output-dir runs/twinworld [--quick]``: run TwinWorld end to end
(or, with ``--rescore DIR``, score the models of a finished run again)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

from .experiment import DEFAULT_VARIANTS, ExperimentConfig, quick_config, rescore_experiment, run_experiment
from .report import plot, table


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.twinworld", description=__doc__)
    parser.add_argument("--output-dir", required=True, help="new or empty folder for data, models and results")
    parser.add_argument("--quick", action="store_true", help="one seed, fewer steps and images (the slow test)")
    parser.add_argument("--seeds", type=int, nargs="+", help="fine-tuning seeds (default 0 1 2; quick: 0)")
    parser.add_argument("--variants", nargs="+", help=f"loss variants (default {' '.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--finetune-steps", type=int, help="optimiser steps of every fine-tuning")
    parser.add_argument("--base", help="reuse this pretrained base CLIP folder instead of pretraining one")
    parser.add_argument(
        "--rescore",
        metavar="DIR",
        help="score the base and fine-tuned models of the finished run DIR again, training nothing "
        "(after a change of the evaluation code; give the options DIR was run with)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: these models are tiny, and on a shared CPU more threads are slower)",
    )
    args = parser.parse_args(argv)
    if args.rescore and args.base:
        parser.error("--rescore reuses the base of the finished run; leave out --base.")
    return args


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    config = quick_config() if args.quick else ExperimentConfig()
    if args.seeds:
        config = replace(config, seeds=tuple(args.seeds))
    if args.variants:
        config = replace(config, variants=tuple(args.variants))
    if args.finetune_steps:
        config = replace(config, finetune=replace(config.finetune, steps=args.finetune_steps))
    return config


def main(argv: list[str] | None = None) -> int:
    import torch

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out_dir = Path(args.output_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise SystemExit(f"{out_dir} is not empty: choose a new --output-dir or delete it.")
    start = time.perf_counter()
    if args.rescore:
        results = rescore_experiment(out_dir, config_from_args(args), args.rescore)
    else:
        results = run_experiment(out_dir, config_from_args(args), base_dir=args.base)
    results["command"] = "python -m benchmarks.twinworld " + shlex.join(argv)
    results["seconds"]["rescore" if args.rescore else "total"] = time.perf_counter() - start
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = table(results)
    (out_dir / "results.md").write_text(markdown + "\n")
    plot(results, out_dir / "results.png")
    print(markdown)
    print(f"\n{results['command']}  ({time.perf_counter() - start:.0f}s)")
    print(f"results: {out_dir / 'results.json'}, {out_dir / 'results.md'}, {out_dir / 'results.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
