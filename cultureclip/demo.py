"""``cultureclip demo``: the whole method on the embedded default, offline, on a CPU.

tiny models -> generate CulTwin (curated twins, tiny diffusion) -> build the release -> train
CultureCLIP (LoRA) -> evaluate base vs fine-tuned -> build the Hub repository folders (-> push
them, with ``--push-to-hub ORG``: the model, the dataset, the tiny base CLIP and the demo Space, see
`REPOSITORIES`).

Each stage runs the same code as its own command. The models have random weights: the demo
shows that every piece runs and connects, not that the result is any good.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import time
from dataclasses import dataclass
from pathlib import Path

from .cli_args import ArgumentParser
from .output_dirs import check_output_dir, mark, owned, remove_owned

REAL_COMMANDS = """\
The same method with the paper's models (GPUs, a Hugging Face login):
  cultureclip generate --config configs/cultwin_paper.yaml --output-dir runs/cultwin
  cultureclip build-dataset runs/cultwin --output-dir releases/cultwin --repo-id ORG/cultwin
  cultureclip train --config configs/paper_vitb32.yaml --dataset releases/cultwin --output-dir runs/cultureclip
  cultureclip evaluate --model runs/cultureclip/merged --baseline openai/clip-vit-base-patch32 \\
      --benchmarks globalrg-retrieval,globalrg-grounding,crope,cultwin \\
      --dataset cultwin=releases/cultwin --output-dir runs/eval
  cultureclip publish model --checkpoint runs/cultureclip --eval-dir runs/eval --repo-id ORG/cultureclip \\
      --dataset-id ORG/cultwin
  cultureclip publish dataset --release-dir releases/cultwin --repo-id ORG/cultwin
  cultureclip publish space --repo-id ORG/cultureclip-demo --model-repo ORG/cultureclip --dataset-repo ORG/cultwin"""


# What ``--push-to-hub ORG`` publishes, as ORG/<name>: the model, the dataset, and the tiny base
# CLIP, so that the model card and the adapter name a base model users can load.
REPOSITORIES = {
    "cultureclip": "the model",
    "cultwin": "the dataset",
    "tiny-random-clip": "the tiny random-weight base CLIP the model card names",
    "cultureclip-demo": "the demo Space comparing the two CLIPs",
}


@dataclass(frozen=True)
class DemoConfig:
    """Options of the demo.

    Args:
        output_dir: where every artifact goes (must be absent or empty).
        twin_pairs: curated twin pairs to generate data for.
        captions_per_concept: captions (and images) per concept; each twin pair gives its square
            of caption pairs.
        test_pairs: twin pairs held out for the test split (the evaluation's data).
        train_steps: optimisation steps of the LoRA fine-tuning.
        push_to_hub: a Hub organisation (or user) to publish the `REPOSITORIES` under.
        quiet: hide the stages' own output (progress bars, logs).
        overwrite: replace ``output_dir`` if an earlier demo wrote it.
    """

    output_dir: Path
    twin_pairs: int = 12
    captions_per_concept: int = 2
    test_pairs: int = 4
    train_steps: int = 8
    push_to_hub: str | None = None
    quiet: bool = True
    overwrite: bool = False

    def __post_init__(self):
        for name in ("twin_pairs", "captions_per_concept", "test_pairs", "train_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1.")
        if self.test_pairs >= self.twin_pairs:
            raise ValueError(
                f"test_pairs={self.test_pairs} leaves no twin pair to train on out of twin_pairs="
                f"{self.twin_pairs}; use fewer test pairs or more twin pairs."
            )
        if self.push_to_hub is not None:
            from huggingface_hub.utils import HFValidationError, validate_repo_id

            try:
                if "/" in self.push_to_hub:
                    raise HFValidationError("a name has no '/'")
                for name in REPOSITORIES:
                    validate_repo_id(f"{self.push_to_hub}/{name}")
            except HFValidationError:
                raise ValueError(
                    f"--push-to-hub {self.push_to_hub!r}: give an organisation or user name, e.g. my-org."
                ) from None
        output_dir = Path(self.output_dir)
        check_output_dir(output_dir, overwrite=self.overwrite)
        object.__setattr__(self, "output_dir", output_dir)


def _run(name: str, main, argv: list[str], quiet: bool) -> None:
    """One stage's command, in-process; its output is kept and shown only if it fails."""
    buffer = io.StringIO()
    redirect = (contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer)) if quiet else ()
    with contextlib.ExitStack() as stack:
        for context in redirect:
            stack.enter_context(context)
        code = main(argv)
    if code:
        raise RuntimeError(f"stage {name} failed (exit {code}):\n{buffer.getvalue()[-4000:]}")


def _base_model_repo(clip_dir: Path, repo_id: str, folder: Path):
    """The tiny random-weight base CLIP as a repository folder, with a card that says what it is."""
    import shutil

    from huggingface_hub import ModelCard, ModelCardData

    from .hub import RepoFolder

    shutil.copytree(clip_dir, folder)
    data = ModelCardData(library_name="transformers", pipeline_tag="zero-shot-image-classification", tags=["clip"])
    text = (
        f"---\n{data.to_yaml()}\n---\n\n# {repo_id.split('/')[-1]}\n\n"
        "A CLIP with random weights, built from a config by `cultureclip make-tiny-models`: a plumbing "
        "model for the CultureCLIP demo. It shows that code runs end to end; it has no quality.\n"
    )
    ModelCard(text).save(folder / "README.md")
    return RepoFolder.scan(folder, repo_id, "model", f'CLIPModel.from_pretrained("{repo_id}")')


def run_demo(config: DemoConfig) -> dict[str, Path]:
    """Runs every stage and returns where each artifact is."""
    from cultureclip.dataset_builder import ReleaseConfig, build_release
    from cultureclip.dataset_builder.generate import main as generate_main
    from cultureclip.evaluation.cli import main as evaluate_main
    from cultureclip.testing import make_tiny_models
    from cultureclip.trainer.train import main as train_main

    from .hub import build_dataset_repo, build_model_repo, push_folders
    from .resources import project_file
    from .space import build_space_repo

    out = config.output_dir
    if config.overwrite and owned(out):
        remove_owned(out)
    mark(out)
    paths = {
        "tiny models": out / "tiny-models",
        "generation run": out / "run",
        "CulTwin release": out / "cultwin",
        "training run": out / "train",
        "evaluation": out / "eval",
        "model repository": out / "hub" / "model",
        "base repository": out / "hub" / "base",
        "demo Space": out / "hub" / "space",
    }
    if importlib.util.find_spec("gradio") is None:
        print("The demo Space is not built: it needs gradio (pip install 'cultureclip[space]').")
        del paths["demo Space"]
    org = config.push_to_hub or "org"
    model_repo, dataset_repo, base_repo, space_repo = (f"{org}/{name}" for name in REPOSITORIES)
    space_id = space_repo if "demo Space" in paths else None  # the cards link to the Space they ship with

    def models():
        make_tiny_models(paths["tiny models"])

    def generate():
        argv = [
            "--config", str(project_file("configs/cultwin_tiny.yaml")),
            "--models-dir", str(paths["tiny models"]),
            "--output-dir", str(paths["generation run"]),
            "--set", f"selection.limit={config.twin_pairs}",
            "--set", f"captions.per_concept={config.captions_per_concept}",
            "--no-progress",
        ]  # fmt: skip
        _run("generate", generate_main, argv, config.quiet)

    def build():
        release = ReleaseConfig(
            validation_size=0, test_size=config.test_pairs, repo_id=dataset_repo, space_id=space_id
        )
        with contextlib.redirect_stderr(io.StringIO()) if config.quiet else contextlib.nullcontext():
            build_release(paths["generation run"], paths["CulTwin release"], release)

    def train():
        argv = [
            "--config", str(project_file("configs/tiny.yaml")),
            "--base-model", str(paths["tiny models"] / "clip"),
            "--dataset", str(paths["CulTwin release"]),
            "--dataset-config", "pairs",
            "--output-dir", str(paths["training run"]),
            "--max-steps", str(config.train_steps),
            "--disable-tqdm", "true",
        ]  # fmt: skip
        _run("train", train_main, argv, config.quiet)

    def evaluate():
        argv = [
            "--model", str(paths["training run"] / "merged"),
            "--baseline", str(paths["tiny models"] / "clip"),
            "--benchmarks", "cultwin",
            "--dataset", f"cultwin={paths['CulTwin release']}",
            "--output-dir", str(paths["evaluation"]),
            "--cache-dir", str(out / "embedding-cache"),
        ]  # fmt: skip
        _run("evaluate", evaluate_main, argv, config.quiet)

    folders = []

    def release():
        model = build_model_repo(
            paths["training run"],
            model_repo,
            out / "hub",
            eval_dir=paths["evaluation"],
            base_model_id=base_repo,
            dataset_id=dataset_repo,
            space_id=space_id,
        )
        # The adapter's card loads its base model by Hub id, so the tiny base CLIP gets a repository too.
        base = _base_model_repo(paths["tiny models"] / "clip", base_repo, out / "hub" / "base")
        tokenizer = str(paths["tiny models"] / "clip")
        dataset = build_dataset_repo(paths["CulTwin release"], dataset_repo, tokenizer)
        folders.extend([base, dataset, *model.folders])
        if "demo Space" in paths:
            space = build_space_repo(
                space_repo, paths["demo Space"], model=model_repo, dataset=dataset_repo, baseline=base_repo
            )
            folders.append(space)

    stages = [
        ("tiny models", models),
        ("generate", generate),
        ("build-dataset", build),
        ("train", train),
        ("evaluate", evaluate),
        ("release folders", release),
    ]
    if config.push_to_hub:

        def push():
            for result in push_folders(folders):
                print(f"pushed {result.repo_id}: {result.commit_url}")

        stages.append(("push to hub", push))
    for name, stage in stages:
        start = time.perf_counter()
        stage()
        print(f"{name:<16} {time.perf_counter() - start:6.1f} s", flush=True)
    return paths


def space_command(paths: dict[str, Path]) -> str:
    """The command that serves the demo's Space folder on its local model, baseline and release."""
    env = {
        "CULTURECLIP_MODEL": paths["model repository"],
        "CULTURECLIP_BASELINE": paths["base repository"],
        "CULTURECLIP_DATASET": paths["CulTwin release"],
    }
    return " ".join(f"{k}={v}" for k, v in env.items()) + f" python {paths['demo Space'] / 'app.py'}"


def main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="cultureclip demo",
        description=__doc__.split("\n\n")[0],
        epilog="example:\n  cultureclip demo --output-dir demo-output",
    )
    parser.add_argument("--output-dir", required=True, help="a new (or empty) folder for every artifact")
    parser.add_argument("--overwrite", action="store_true", help="replace --output-dir if an earlier demo wrote it")
    parser.add_argument("--twin-pairs", type=int, default=DemoConfig.twin_pairs, help="curated twin pairs to use")
    parser.add_argument(
        "--captions-per-concept",
        type=int,
        default=DemoConfig.captions_per_concept,
        help="captions (and images) per concept",
    )
    parser.add_argument(
        "--test-pairs", type=int, default=DemoConfig.test_pairs, help="twin pairs held out for evaluation"
    )
    parser.add_argument("--train-steps", type=int, default=DemoConfig.train_steps, help="LoRA optimisation steps")
    parser.add_argument(
        "--push-to-hub",
        metavar="ORG",
        help="also publish " + ", ".join(f"ORG/{name} ({what})" for name, what in REPOSITORIES.items()),
    )
    parser.add_argument("--verbose", action="store_true", help="show each stage's own output")
    args = parser.parse_args(argv)
    config = DemoConfig(
        output_dir=Path(args.output_dir),
        twin_pairs=args.twin_pairs,
        captions_per_concept=args.captions_per_concept,
        test_pairs=args.test_pairs,
        train_steps=args.train_steps,
        push_to_hub=args.push_to_hub,
        quiet=not args.verbose,
        overwrite=args.overwrite,
    )
    print("CultureCLIP demo: tiny random-weight models, offline, CPU. This shows the plumbing, not quality.")
    paths = run_demo(config)
    print("\nArtifacts:")
    for name, path in paths.items():
        print(f"  {name:<17} {path}")
    if "demo Space" in paths:
        print(f"\nThe demo Space, on these local artifacts:\n  {space_command(paths)}")
    print(f"\n{REAL_COMMANDS}")
    return 0
