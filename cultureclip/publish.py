"""``cultureclip publish model|dataset|space``: build the Hub repository folder, then upload it in one commit.

Examples: `EXAMPLES`. The token comes from ``hf auth login`` or ``HF_TOKEN``; it is never printed or written.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from cultureclip.cli_args import ArgumentParser, repo_id
from cultureclip.dataset_builder.validate import DEFAULT_TOKENIZER
from cultureclip.references import check_reference

from .hub import PublishError, PushResult, RepoFolder, build_dataset_repo, build_model_repo, push_folders
from .space import DEFAULT_BASELINE, build_space_repo


def _assignment(text: str) -> tuple[str, str]:
    benchmark, sep, value = text.partition("=")
    if not (sep and benchmark and value):
        raise argparse.ArgumentTypeError(f"{text!r} is not BENCHMARK=ORG/NAME")
    return benchmark, repo_id(value)


EXAMPLES = """examples:
  cultureclip publish model --checkpoint runs/train --eval-dir runs/eval \\
      --repo-id org/cultureclip --output-dir hub-release/cultureclip --dry-run
  cultureclip publish dataset --release-dir releases/cultwin --repo-id org/cultwin --private
  cultureclip publish space --repo-id org/cultureclip-demo --model-repo org/cultureclip \\
      --dataset-repo org/cultwin --dry-run"""


def parser() -> argparse.ArgumentParser:
    root = ArgumentParser(
        prog="cultureclip publish",
        description="Publish CultureCLIP (model), CulTwin (dataset) or the demo (space) to the Hugging Face Hub "
        "in one commit.",
        epilog=EXAMPLES,
    )
    kinds = root.add_subparsers(dest="kind", required=True, metavar="{model,dataset,space}")

    model = kinds.add_parser(
        "model",
        help="the merged CLIPModel + processor, LoRA adapter and model card",
        description="Build the model repository folder from a training run (and an evaluation), then upload it.",
        epilog=EXAMPLES,
    )
    model.add_argument("--checkpoint", required=True, help="output folder of `cultureclip train`")
    model.add_argument("--repo-id", required=True, type=repo_id, help="model repository, org/name")
    model.add_argument("--eval-dir", help="output folder of `cultureclip evaluate` (results table, plots)")
    model.add_argument(
        "--adapter",
        choices=("subfolder", "repo", "none"),
        help="where the LoRA adapter goes: adapter/ of the model repository (default), "
        "its own repository (--adapter-repo-id), or nowhere",
    )
    model.add_argument(
        "--adapter-repo-id", type=repo_id, help="the adapter's own repository, org/name (implies --adapter repo)"
    )
    model.add_argument(
        "--base-model-id", type=repo_id, help="Hub id of the base model, when training used a local path"
    )
    model.add_argument(
        "--dataset-id", type=repo_id, help="Hub id of the training dataset, when training used a local path"
    )
    model.add_argument(
        "--eval-dataset-id",
        action="append",
        type=_assignment,
        default=[],
        metavar="BENCHMARK=ORG/NAME",
        help="Hub id of the data a benchmark of --eval-dir was evaluated on, when that was a local folder "
        "(repeatable; cultwin defaults to the training dataset's Hub id)",
    )
    model.add_argument(
        "--space-id", type=repo_id, help="Hub id of the demo Space the card links to (org/name; default: no link)"
    )
    model.add_argument("--license", default="apache-2.0", help="license of the card metadata")
    model.add_argument(
        "--output-dir",
        help="the folder to build: the model repository goes to OUT/model, an adapter with its own repository "
        "to OUT/adapter (default: hub-release/<repo name>)",
    )
    model.add_argument(
        "--overwrite", action="store_true", help="replace --output-dir if it is a folder this command built"
    )

    dataset = kinds.add_parser(
        "dataset",
        help="a CulTwin release folder (Parquet + dataset card) as built",
        description="Check a CulTwin release folder and upload it as built.",
        epilog=EXAMPLES,
    )
    dataset.add_argument("--release-dir", required=True, help="output folder of `cultureclip build-dataset`")
    dataset.add_argument("--repo-id", required=True, type=repo_id, help="dataset repository, org/name")
    dataset.add_argument(
        "--tokenizer",
        default=DEFAULT_TOKENIZER,
        help="tokenizer the release's captions are checked with before upload (offline: a local folder)",
    )

    space = kinds.add_parser(
        "space",
        help="the demo Space: a Gradio app comparing the base CLIP and CultureCLIP",
        description="Build the demo Space folder (app, pinned requirements, card), then upload it.",
        epilog=EXAMPLES,
    )
    space.add_argument("--repo-id", required=True, type=repo_id, help="Space repository, org/name")
    space.add_argument(
        "--model-repo", required=True, type=repo_id, help="Hub id of the CultureCLIP model the Space serves"
    )
    space.add_argument(
        "--dataset-repo", required=True, type=repo_id, help="Hub id of the CulTwin dataset the Space browses"
    )
    space.add_argument(
        "--baseline-repo",
        default=DEFAULT_BASELINE,
        type=repo_id,
        help="Hub id of the model to compare with (default: %(default)s)",
    )
    space.add_argument("--split", default="test", help="dataset split the Space shows (default: %(default)s)")
    space.add_argument("--output-dir", help="where to build the Space folder (default: hub-release/<repo name>)")
    space.add_argument("--overwrite", action="store_true", help="replace a Space folder this command built")

    for sub in (model, dataset, space):
        sub.add_argument("--dry-run", action="store_true", help="build and check the folder, upload nothing")
        sub.add_argument("--private", action="store_true", help="create the repository private")
        sub.add_argument("--revision", help="branch to commit to (created if missing; default main)")
        sub.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
        sub.add_argument("--commit-message", help="commit title")
    return root


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    folders = _build(args)
    for folder in folders:
        print(f"{folder.repo_type} repository {folder.repo_id}: {len(folder.files)} files in {folder.path}")
    if args.dry_run:
        print("Dry run: nothing uploaded. Run the same command without --dry-run to publish.")
        return 0
    try:
        results = push_folders(
            folders,
            private=args.private,
            revision=args.revision,
            create_pr=args.create_pr,
            commit_message=args.commit_message,
        )
    except PublishError as error:
        retry = argv if args.kind == "dataset" or "--overwrite" in argv else [*argv, "--overwrite"]
        print(f"cultureclip publish: {error}\nRetry: cultureclip publish {shlex.join(retry)}", file=sys.stderr)
        return 1
    for folder, result in zip(folders, results):
        print(_pushed(folder, result))
    return 0


def _build(args: argparse.Namespace) -> list[RepoFolder]:
    if args.kind == "dataset":
        check_reference(args.tokenizer, "--tokenizer")
        return [build_dataset_repo(args.release_dir, args.repo_id, tokenizer=args.tokenizer)]
    if args.kind == "space":
        space = build_space_repo(
            args.repo_id,
            args.output_dir or f"hub-release/{args.repo_id.split('/')[-1]}",
            model=args.model_repo,
            dataset=args.dataset_repo,
            baseline=args.baseline_repo,
            split=args.split,
            overwrite=args.overwrite,
        )
        return [space]
    adapter = args.adapter or ("repo" if args.adapter_repo_id else "subfolder")
    release = build_model_repo(
        args.checkpoint,
        args.repo_id,
        args.output_dir or f"hub-release/{args.repo_id.split('/')[-1]}",
        eval_dir=args.eval_dir,
        adapter=adapter,
        adapter_repo_id=args.adapter_repo_id,
        base_model_id=args.base_model_id,
        dataset_id=args.dataset_id,
        eval_dataset_ids=dict(args.eval_dataset_id),
        license=args.license,
        space_id=args.space_id,
        overwrite=args.overwrite,
    )
    for name in release.skipped:
        print(f"left out {name}: pickle files are never published (safetensors only)")
    return release.folders


def _pushed(folder: RepoFolder, result: PushResult) -> str:
    where = f"pull request {result.pr_url}" if result.pr_url else f"commit {result.commit_url}"
    how = "open it at" if folder.repo_type == "space" else "load it with"
    return f"published {result.repo_type} repository {result.repo_id}: {where}\n  users {how} {folder.usage}"
