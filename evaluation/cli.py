"""``cultureclip evaluate``: score a model (and a baseline) on several benchmarks."""

from __future__ import annotations

import argparse
import ast

from cultureclip.devices import DTYPES, launched_processes

from .benchmarks import BENCHMARKS


def _assignments(values: list[str], flag: str, parser) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            parser.error(f"{flag} {value!r} is not NAME=VALUE.")
        pairs[name] = rest
    return pairs


# Options whose values are names (columns, revisions, splits): "1.0" or "2024" stay strings.
_NAME_OPTIONS = ("split", "config", "templates")
_NAME_SUFFIXES = ("_column", "_revision")


def _value(option: str, text: str):
    """An ``--option`` value: ``"none"`` -> None; a name option keeps its text; otherwise a Python
    literal when it is one (``"32"`` -> 32, ``"[...]"`` -> a list), else the text."""
    if text.lower() in ("none", "null"):
        return None
    if (option in _NAME_OPTIONS or option.endswith(_NAME_SUFFIXES)) and not text.startswith("["):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_args(argv: list[str]):
    parser = argparse.ArgumentParser(
        prog="cultureclip evaluate",
        description=(
            "Zero-shot evaluation of a CLIP model (Hub id or path), optionally next to a baseline, on "
            "the paper's cultural benchmarks, CulTwin twin accuracy, zero-shot classification and "
            "retrieval. Writes OUT/<benchmark>.json, OUT/baseline/<benchmark>.json, OUT/summary.json "
            "and OUT/plots/*.png, and prints the table."
        ),
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
        "--dataset", action="append", default=[], metavar="NAME=PATH_OR_ID", help="dataset of a benchmark (repeatable)"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="an option of one benchmark, e.g. zeroshot.group_column=region or cultwin.split=validation (repeatable)",
    )
    parser.add_argument("--output-dir", required=True, metavar="OUT")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: the GPU if there is one, else cpu)")
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        help="model dtype (default: float32); auto: bfloat16 or float16 on a GPU, float32 on the cpu",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cache-dir", help="embedding cache (default: $CULTURECLIP_CACHE or ~/.cache/cultureclip)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    parser.add_argument("--no-plots", action="store_true")
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
    args.dataset = _assignments(args.dataset, "--dataset", parser)
    args.options = {name: {} for name in args.benchmarks}
    for key, value in _assignments(args.option, "--option", parser).items():
        benchmark, _, option = key.partition(".")
        if benchmark not in args.options or not option:
            parser.error(f"--option {key}=...: NAME must be one of the chosen benchmarks {args.benchmarks}.")
        args.options[benchmark][option] = _value(option, value)
    stray = sorted(set(args.dataset) - set(args.benchmarks))
    if stray:
        parser.error(f"--dataset for {stray}, which are not in --benchmarks {args.benchmarks}.")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
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
    written = write_results(args.output_dir, results["model"], results.get("baseline"))
    if not args.no_plots:
        write_plots(args.output_dir, written["summary"], results["model"], results.get("baseline", {}))
    print(format_table(written["summary"]["rows"]))
    for role in results:
        for benchmark, result in results[role].items():
            if result["unreadable_images"]:
                print(
                    f"[{role}] {benchmark}: {len(result['unreadable_images'])} unreadable image(s), {result['skipped']} item(s) not scored"
                )
    print(f"results in {args.output_dir}")
    return 0
