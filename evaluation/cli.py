"""``cultureclip evaluate``: score a model (and a baseline) on several benchmarks."""

from __future__ import annotations

from cultureclip.cli_args import ArgumentParser, add_set_option, parse_assignments
from cultureclip.devices import DTYPES, launched_processes
from cultureclip.errors import UserError

from .benchmarks import BENCHMARKS

# Options whose values are names (columns, revisions, splits): "1.0" or "2024" stay strings.
_NAME_OPTIONS = ("split", "config", "templates")
_NAME_SUFFIXES = ("_column", "_revision")


def _is_name(option: str) -> bool:
    return option in _NAME_OPTIONS or option.endswith(_NAME_SUFFIXES)


def parse_args(argv: list[str]):
    parser = ArgumentParser(
        prog="cultureclip evaluate",
        description=(
            "Zero-shot evaluation of a CLIP model (Hub id or path), optionally next to a baseline, on "
            "the paper's cultural benchmarks, CulTwin twin accuracy, zero-shot classification and "
            "retrieval. Writes OUT/<benchmark>.json, OUT/baseline/<benchmark>.json, OUT/summary.json "
            "and OUT/plots/*.png (built beside OUT and renamed into place last), and prints the table."
        ),
        epilog="examples:\n"
        "  cultureclip evaluate --model runs/cultureclip/merged --baseline openai/clip-vit-base-patch32 \\\n"
        "      --benchmarks globalrg-retrieval,crope,cultwin --dataset cultwin=releases/cultwin --output-dir runs/eval\n"
        "  cultureclip evaluate --model m --benchmarks zeroshot --dataset zeroshot=data/ \\\n"
        "      --set zeroshot.label_column=label --output-dir runs/eval-zs",
    )
    parser.add_argument("--model", required=True, help="Hub id or local path of the CLIPModel to evaluate")
    parser.add_argument("--model-revision", help="Hub revision (branch, tag or commit) of --model")
    parser.add_argument(
        "--baseline", help="Hub id or path of a model to compare with (e.g. openai/clip-vit-base-patch32)"
    )
    parser.add_argument("--baseline-revision", help="Hub revision (branch, tag or commit) of --baseline")
    parser.add_argument(
        "--benchmarks",
        default="globalrg-retrieval,globalrg-grounding,crope",
        help=f"comma-separated subset of {','.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="NAME=PATH_OR_ID",
        help="the dataset of benchmark NAME: a local folder or Hub id (repeatable; default: the benchmark's own)",
    )
    add_set_option(parser, "zeroshot.group_column=region", aliases=("--option",))
    parser.add_argument("--output-dir", required=True, metavar="OUT", help="a new or empty folder for the results")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it holds results cultureclip wrote")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: the GPU if there is one, else cpu)")
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        help="model dtype (default: float32); auto: bfloat16 or float16 on a GPU, float32 on the cpu",
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="images or texts per forward pass (default: %(default)s)"
    )
    parser.add_argument("--cache-dir", help="embedding cache (default: $CULTURECLIP_CACHE or ~/.cache/cultureclip)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    parser.add_argument("--no-plots", action="store_true", help="write no plots")
    args = parser.parse_args(argv)
    if launched_processes() > 1:
        parser.error(
            f"runs in one process, but this is one of {launched_processes()} started by torchrun or accelerate "
            "launch (each would repeat the whole run and race on the cache files); run it without the launcher "
            "(--device cuda:N picks a GPU)."
        )
    args.benchmarks = [name.strip() for name in args.benchmarks.split(",") if name.strip()]
    unknown = [name for name in args.benchmarks if name not in BENCHMARKS]
    if unknown or not args.benchmarks:
        parser.error(f"--benchmarks {unknown or '(empty)'}: choose from {','.join(BENCHMARKS)}.")
    if args.baseline_revision and not args.baseline:
        parser.error("--baseline-revision needs --baseline (the Hub id of the model to compare with).")
    try:
        args.dataset = parse_assignments(args.dataset, "--dataset", text=lambda key: True)
        overrides = parse_assignments(args.overrides, "--set", text=lambda key: _is_name(key.partition(".")[2]))
    except UserError as error:
        parser.error(str(error))
    args.options = {name: {} for name in args.benchmarks}
    for key, value in overrides.items():
        benchmark, _, option = key.partition(".")
        if benchmark not in args.options or not option:
            parser.error(f"--set {key}=...: the key must be BENCHMARK.OPTION, BENCHMARK one of {args.benchmarks}.")
        args.options[benchmark][option] = value
    stray = sorted(set(args.dataset) - set(args.benchmarks))
    if stray:
        parser.error(f"--dataset for {stray}, which are not in --benchmarks {args.benchmarks}.")
    return args


def check_inputs(args) -> None:
    """Fails before any model loads: an output folder that may not be written, a missing local
    model or dataset, or (offline) a Hub id that is not in the cache."""
    from cultureclip.output_dirs import check_output_dir
    from cultureclip.references import check_reference

    from .benchmarks import get_benchmark

    check_output_dir(args.output_dir, overwrite=args.overwrite, inputs=_inputs(args))
    for flag in ("model", "baseline"):
        if getattr(args, flag):
            check_reference(getattr(args, flag), f"--{flag}")
    for benchmark in args.benchmarks:
        dataset = args.dataset.get(benchmark) or get_benchmark(benchmark).DATASET
        if dataset:
            check_reference(dataset, f"--dataset {benchmark}=", "dataset")


def _inputs(args) -> dict[str, str]:
    return {"--model": args.model, "--baseline": args.baseline} | {
        f"the {name} dataset": path for name, path in args.dataset.items()
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    check_inputs(args)
    from cultureclip.output_dirs import atomic_output_dir

    from .api import evaluate
    from .encoder import load_encoder
    from .plots import write_plots
    from .results import format_table, write_results

    run = {"batch_size": args.batch_size, "use_cache": not args.no_cache, "progress": True}
    if args.cache_dir:
        run["cache_dir"] = args.cache_dir
    results = {}
    models = {"model": (args.model, args.model_revision), "baseline": (args.baseline, args.baseline_revision)}
    for role, (name, revision) in models.items():
        if name is None:
            continue
        encoder = load_encoder(
            name, device=args.device, dtype=args.dtype, batch_size=args.batch_size, revision=revision, progress=True
        )
        results[role] = {}
        for benchmark in args.benchmarks:
            print(f"[{role}] {benchmark}")
            dataset = args.dataset.get(benchmark)
            results[role][benchmark] = evaluate(encoder, benchmark, dataset, **run, **args.options[benchmark])
    with atomic_output_dir(args.output_dir, overwrite=args.overwrite, inputs=_inputs(args)) as staged:
        written = write_results(staged, results["model"], results.get("baseline"))
        if not args.no_plots:
            write_plots(staged, written)
    print(format_table(written.summary.rows))
    for role in results:
        for benchmark, result in results[role].items():
            if result["unreadable_images"]:
                print(
                    f"[{role}] {benchmark}: {len(result['unreadable_images'])} unreadable image(s), {result['skipped']} item(s) not scored"
                )
    print(f"results in {args.output_dir}")
    return 0
