"""``cultureclip build-dataset RUN_DIR --output-dir OUT``."""

from __future__ import annotations

import argparse

from cultureclip.cli_args import ArgumentParser, repo_id

from .release import ReleaseConfig, build_release


def split_size(text: str) -> float | int:
    """``"0.1"`` -> a fraction, ``"5"`` -> a count of twin pairs."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is neither a fraction (0.1) nor a count (5)") from None


def main(argv: list[str]) -> int:
    defaults = ReleaseConfig()
    parser = ArgumentParser(
        prog="cultureclip build-dataset",
        description=(
            "Build the CulTwin release folder from a generation run folder: Parquet shards of the "
            "'pairs' and 'concepts' configs with the images embedded, split by twin pair, and a "
            "dataset card (README.md) with statistics and a preview grid. load_dataset(OUT) reads it.\n"
            "The folder is built beside OUT and renamed into place last: a killed build leaves no OUT."
        ),
        epilog="example:\n  cultureclip build-dataset runs/cultwin --output-dir releases/cultwin --repo-id ORG/cultwin",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a generation run folder (cultureclip generate)")
    parser.add_argument("--output-dir", required=True, metavar="OUT", help="a new or empty folder for the release")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it is a release cultureclip built")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the twin-pair split")
    for name in ("validation", "test"):
        parser.add_argument(
            f"--{name}-size",
            type=split_size,
            default=getattr(defaults, f"{name}_size"),
            help=f"twin pairs in {name}: a fraction (0.05) or a count (5)",
        )
    parser.add_argument(
        "--drop-bad-images",
        action="store_true",
        help="drop (and count) the pairs that use a missing or corrupt image instead of refusing the run",
    )
    parser.add_argument("--license", default=defaults.license, help="license id for the card")
    parser.add_argument(
        "--repo-id", type=repo_id, default=defaults.repo_id, help="Hub id the card's loading examples use (org/name)"
    )
    parser.add_argument(
        "--space-id", type=repo_id, help="Hub id of the demo Space the card links to (org/name; default: no link)"
    )
    parser.add_argument("--max-shard-size", default=defaults.max_shard_size, help="largest Parquet shard")
    args = parser.parse_args(argv)
    config = ReleaseConfig(
        seed=args.seed,
        validation_size=args.validation_size,
        test_size=args.test_size,
        drop_bad_images=args.drop_bad_images,
        license=args.license,
        repo_id=args.repo_id,
        space_id=args.space_id,
        max_shard_size=args.max_shard_size,
    )
    result = build_release(args.run_dir, args.output_dir, config, overwrite=args.overwrite)
    for name, splits in result.num_rows.items():
        print(f"{name:<9} " + ", ".join(f"{split} {rows}" for split, rows in splits.items()))
    if result.dropped_images:
        print(
            f"dropped {len(result.dropped_images)} bad image(s) and {result.statistics['filter']['dropped_pairs']} pair(s):"
        )
        for bad in result.dropped_images:
            print(f"  {bad}")
    print(f"wrote {result.output_dir}")
    return 0
