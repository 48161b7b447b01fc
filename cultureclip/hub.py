"""Hub release of CultureCLIP and CulTwin: build the repository folder, then upload it in one commit.

Building and uploading are separate steps, so a release can be inspected before it goes out
(``cultureclip publish ... --dry-run``) and a failed upload can be retried from the built folder.

- `build_model_repo`: a training output folder (``merged/``, ``adapter/``, ``training_record.json``)
  and optionally an evaluation folder -> a model repository folder: the merged ``CLIPModel`` and
  processor, the LoRA adapter (in ``adapter/`` or in a folder of its own for a second repository),
  the rendered model card and the result plots. Safetensors only.
- `build_dataset_repo`: validates a CulTwin release folder (`cultureclip.dataset_builder.validate_release`)
  and checks that its card loads the target repository; it is uploaded as built.
- `push_to_hub`: one folder -> one commit; `push_folders`: several, in order, saying which were
  committed when one fails. `push_model_to_hub` and `push_dataset_to_hub` build and push.

The token is whatever ``huggingface_hub`` finds (``HF_TOKEN`` or ``hf auth login``); this module
never reads, prints or writes it.

Example (a run trained from local folders names the Hub ids its card should cite)::

    release = build_model_repo("runs/train", "org/cultureclip", "hub-release", eval_dir="runs/eval",
                               base_model_id="openai/clip-vit-base-patch32", dataset_id="org/cultwin")
    dataset = build_dataset_repo("runs/cultwin", "org/cultwin")
    for result in push_folders([dataset, *release.folders]):
        print(result.commit_url)
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cultureclip.dataset_builder.release import ReleaseConfig
from cultureclip.dataset_builder.validate import DEFAULT_TOKENIZER, validate_release
from cultureclip.evaluation import load_results
from cultureclip.evaluation.plots import plot_files, write_plots
from cultureclip.evaluation.results import EvaluationResults
from cultureclip.output_dirs import MARKER, atomic_output_dir, check_output_dir, is_marker
from cultureclip.schemas import TrainingRecord

from .cards import (
    read_training_record,
    render_adapter_card,
    render_model_card,
)

# Pickle-based weight formats: never published (loading them can run arbitrary code).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
# The repository a dataset card's loading examples name: load_dataset("org/name"...).
_LOADED_REPO = re.compile(r'load_dataset\(\s*"([^"]+)"')


class PublishError(RuntimeError):
    """An upload failed; the message says what was (not) committed and how to retry."""


@dataclass(frozen=True)
class RepoFolder:
    """A folder laid out exactly as the Hub repository it becomes.

    Args:
        path: the local folder.
        repo_id: the Hub repository, ``org/name``.
        repo_type: ``"model"``, ``"dataset"`` or ``"space"``.
        usage: the Python expression users load it with, e.g. ``load_dataset("org/cultwin")``.
        files: its files, relative to ``path``, sorted.
    """

    path: Path
    repo_id: str
    repo_type: str
    usage: str
    files: list[str] = field(default_factory=list)

    @classmethod
    def scan(cls, path: Path, repo_id: str, repo_type: str, usage: str) -> RepoFolder:
        files = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and not is_marker(p))
        return cls(path=path, repo_id=repo_id, repo_type=repo_type, usage=usage, files=files)


@dataclass(frozen=True)
class ModelRelease:
    """What `build_model_repo` built.

    Args:
        model: the model repository folder.
        adapter: the adapter's own repository folder, when the adapter goes to a second repository.
        skipped: files of the checkpoint left out because they are pickles, relative to the checkpoint.
    """

    model: RepoFolder
    adapter: RepoFolder | None
    skipped: list[str]

    @property
    def folders(self) -> list[RepoFolder]:
        """The folders to push, adapter first so that the model card never links to a missing repo."""
        return [folder for folder in (self.adapter, self.model) if folder is not None]


@dataclass(frozen=True)
class PushResult:
    """One pushed folder: where it went and the commit (or pull request) that holds it."""

    repo_id: str
    repo_type: str
    commit_url: str
    commit_oid: str
    pr_url: str | None


def build_model_repo(
    checkpoint: str | Path,
    repo_id: str,
    output_dir: str | Path,
    *,
    eval_dir: str | Path | None = None,
    adapter: str = "subfolder",
    adapter_repo_id: str | None = None,
    base_model_id: str | None = None,
    dataset_id: str | None = None,
    eval_dataset_ids: dict[str, str] | None = None,
    license: str = "apache-2.0",
    space_id: str | None = None,
    overwrite: bool = False,
) -> ModelRelease:
    """Builds the model repository folder (and the adapter's, for a second repository).

    Args:
        checkpoint: a training output folder: ``merged/`` (CLIPModel + processor, safetensors),
            ``adapter/`` (PEFT LoRA; absent after full fine-tuning) and ``training_record.json``.
        repo_id: the model repository, ``org/name``.
        output_dir: where to build; the model folder is ``output_dir/model``, the adapter
            repository's ``output_dir/adapter``. Must be absent or empty unless ``overwrite``, and
            neither be nor contain the checkpoint or ``eval_dir``; it is built in a temporary
            sibling and renamed into place last.
        eval_dir: an output folder of ``cultureclip evaluate`` of ``checkpoint/merged`` (checked by
            the model fingerprint its results record): results table, ``model-index``, plots.
        adapter: ``"subfolder"`` (``adapter/`` inside the model repository), ``"repo"`` (its own
            repository, ``adapter_repo_id``) or ``"none"`` (not published).
        adapter_repo_id: the adapter's repository, for ``adapter="repo"``.
        base_model_id: Hub id of the base model, when the record names a local path.
        dataset_id: Hub id of the training dataset, when the record names a local path.
        eval_dataset_ids: benchmark -> Hub id of the data it was evaluated on, for each benchmark
            of ``eval_dir`` evaluated on a local folder; CulTwin defaults to the training dataset's id.
        license: license identifier of the card metadata.
        overwrite: replace an existing ``output_dir`` that this function built.

    Raises:
        FileNotFoundError: a required part of the checkpoint is missing.
        ValueError: bad options, a pickle-only checkpoint, results of another model, or a card
            field that cannot be filled.
    """
    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    target = {"overwrite": overwrite, "inputs": {"--checkpoint": checkpoint, "--eval-dir": eval_dir}}
    check_output_dir(output_dir, **target)
    if adapter not in ("subfolder", "repo", "none"):
        raise ValueError(f"adapter={adapter!r}: choose 'subfolder', 'repo' or 'none'.")
    if (adapter == "repo") != (adapter_repo_id is not None):
        raise ValueError(
            "Give an adapter repo id exactly when the adapter goes to its own repository (adapter='repo')."
        )
    record = read_training_record(checkpoint)
    merged, adapter_src = checkpoint / "merged", checkpoint / "adapter"
    _check_merged(merged)
    if adapter != "none" and not (adapter_src / "adapter_config.json").is_file():
        raise FileNotFoundError(
            f"{adapter_src} has no adapter_config.json (full fine-tuning leaves no adapter): "
            "publish with --adapter none."
        )
    # Everything that can fail on bad input happens before anything is written.
    results = load_results(eval_dir) if eval_dir is not None else None
    if results is not None:
        _check_evaluated_model(results, merged, eval_dir)
    plots = plot_files(results) if results is not None else []
    card = render_model_card(
        record,
        repo_id,
        base_model_id=base_model_id,
        dataset_id=dataset_id,
        results=results,
        plots=plots,
        adapter_location={"subfolder": "adapter/", "repo": adapter_repo_id, "none": None}[adapter],
        license=license,
        eval_dataset_ids=eval_dataset_ids,
        space_id=space_id,
    )
    adapter_card = render_adapter_card(record, adapter_repo_id, repo_id, base_model_id) if adapter == "repo" else None

    with atomic_output_dir(output_dir, **target) as staged:
        model_dir = staged / "model"
        skipped = _copy_safe(merged, model_dir, checkpoint)
        # The card checked that both are Hub ids; the published files name them instead of local folders.
        base, dataset = base_model_id or record.base_model, dataset_id or record.dataset.id
        record.published(base, dataset).write(model_dir / TrainingRecord.FILE)
        if results is not None:
            names = {results.summary.model: repo_id} | ({record.base_model: base} if results.summary.baseline else {})
            write_plots(model_dir, results, names)
        card.save(model_dir / "README.md")
        if adapter == "subfolder":
            skipped += _copy_adapter(adapter_src, model_dir / "adapter", checkpoint, base)
        elif adapter == "repo":
            skipped += _copy_adapter(adapter_src, staged / "adapter", checkpoint, base)
            adapter_card.save(staged / "adapter" / "README.md")
    model_dir, adapter_folder = output_dir / "model", None
    if adapter == "repo":
        adapter_dir = output_dir / "adapter"
        usage = f'PeftModel.from_pretrained(CLIPModel.from_pretrained("{base}"), "{adapter_repo_id}")'
        adapter_folder = RepoFolder.scan(adapter_dir, adapter_repo_id, "model", usage)
    model = RepoFolder.scan(model_dir, repo_id, "model", f'CLIPModel.from_pretrained("{repo_id}")')
    return ModelRelease(model=model, adapter=adapter_folder, skipped=skipped)


def build_dataset_repo(release_dir: str | Path, repo_id: str, tokenizer: str | None = DEFAULT_TOKENIZER) -> RepoFolder:
    """Validates a CulTwin release folder (``cultureclip build-dataset`` output) for upload as built.

    Runs `cultureclip.dataset_builder.validate_release`: the card's ``configs:`` and their Parquet files, the
    schema, every image, split leakage, duplicates and caption lengths. The card's loading
    examples must name ``repo_id``: the card is rendered at build time
    (``cultureclip build-dataset --repo-id``) from the run folder, which the release does not keep,
    so a release built for another id is refused rather than published with a wrong example.

    Args:
        release_dir: the release folder.
        repo_id: the dataset repository, ``org/name``.
        tokenizer: the tokenizer captions are measured with (CLIP's by default); ``None`` skips
            the caption-length check.

    Raises:
        ValueError: the release has problems (the message is the validation report), or its card
            loads another repository.
    """
    release_dir = Path(release_dir)
    report = validate_release(release_dir, tokenizer=tokenizer)
    if not report.ok:
        raise ValueError(
            f"{release_dir} is not a valid CulTwin release, nothing to publish:\n{report.format()}\n"
            "Rebuild it with `cultureclip build-dataset`, or check it with `cultureclip validate-dataset`."
        )
    card = (release_dir / "README.md").read_text(encoding="utf-8")
    others = sorted(set(_LOADED_REPO.findall(card)) - {repo_id})
    if others:
        raise ValueError(
            f"The card of {release_dir} tells users to load_dataset({others[0]!r}), but it would be published "
            f"to {repo_id}: the release was built with --repo-id {others[0]} (the default is "
            f"{ReleaseConfig.repo_id}). Rebuild it for this repository with `cultureclip build-dataset RUN_DIR "
            f"--output-dir NEW_DIR --repo-id {repo_id}` and publish NEW_DIR."
        )
    return RepoFolder.scan(release_dir, repo_id, "dataset", f'load_dataset("{repo_id}")')


def push_to_hub(
    folder: RepoFolder,
    *,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
    api: Any = None,
) -> PushResult:
    """Uploads a built folder to its repository in one commit (created if needed).

    Args:
        folder: a `RepoFolder` from `build_model_repo` / `build_dataset_repo`.
        private: create the repository private (otherwise the account's default; an existing
            repository keeps its visibility).
        revision: the branch to commit to (created from ``main`` if missing); default ``main``.
        create_pr: open a pull request with the commit instead of committing to the branch.
        commit_message: the commit title; default "Upload <name> with cultureclip".
        api: an ``huggingface_hub.HfApi`` (default: a new one, with the token of the login/env).

    Raises:
        PublishError: creating the repository or the commit failed; nothing was committed to it.
    """
    from huggingface_hub import HfApi

    api = api or HfApi()
    message = commit_message or f"Upload {folder.repo_id.split('/')[-1]} with cultureclip"
    retry = f"hf upload {folder.repo_id} {folder.path} . --repo-type {folder.repo_type} --exclude {MARKER}"
    retry += (f" --revision {revision}" if revision else "") + (" --create-pr" if create_pr else "")
    try:
        # private=None leaves a new repository to the account's default visibility.
        sdk = {"space_sdk": "gradio"} if folder.repo_type == "space" else {}
        api.create_repo(folder.repo_id, repo_type=folder.repo_type, private=private or None, exist_ok=True, **sdk)
        if revision is not None and revision != "main":
            api.create_branch(folder.repo_id, branch=revision, repo_type=folder.repo_type, exist_ok=True)
        info = api.upload_folder(
            repo_id=folder.repo_id,
            folder_path=folder.path,
            repo_type=folder.repo_type,
            revision=revision,
            create_pr=create_pr,
            commit_message=message,
            ignore_patterns=[MARKER],
        )
    except Exception as error:  # any failure (HTTP, auth, network, disk) gets the same what-now message
        raise PublishError(
            f"Upload of {folder.path} to {folder.repo_type} repository {folder.repo_id} failed: "
            f"{type(error).__name__}: {error}\n"
            f"Nothing was committed to {folder.repo_id} (the upload is a single commit). "
            f"The built folder is kept at {folder.path}. "
            "Check your login (`hf auth login` or HF_TOKEN) and write access, then retry: rerun the same "
            f"publish command, or upload the folder as is with `{retry}`."
        ) from error
    return PushResult(
        repo_id=folder.repo_id,
        repo_type=folder.repo_type,
        commit_url=info.commit_url,
        commit_oid=info.oid,
        pr_url=info.pr_url,
    )


def push_folders(folders: list[RepoFolder], **push_options: Any) -> list[PushResult]:
    """`push_to_hub` of each folder in order: one commit per repository.

    ``push_options`` are the keyword options of `push_to_hub`.

    Raises:
        PublishError: a push failed; the message adds the repositories committed before it (they
            are complete) and those not pushed yet.
    """
    results = []
    for index, folder in enumerate(folders):
        try:
            results.append(push_to_hub(folder, **push_options))
        except PublishError as error:
            if len(folders) == 1:
                raise
            committed = ", ".join(f"{r.repo_id} ({r.pr_url or r.commit_url})" for r in results) or "none"
            pending = ", ".join(other.repo_id for other in folders[index + 1 :]) or "none"
            raise PublishError(
                f"{error}\nCommitted before this failure: {committed}. Not pushed yet: {pending}."
            ) from error
    return results


def push_model_to_hub(
    checkpoint: str | Path,
    repo_id: str,
    output_dir: str | Path,
    *,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
    api: Any = None,
    **build_options: Any,
) -> list[PushResult]:
    """`build_model_repo` then `push_to_hub` of each folder (the adapter's repository first).

    ``build_options`` are the keyword options of `build_model_repo`. Returns one `PushResult`
    per repository.
    """
    release = build_model_repo(checkpoint, repo_id, output_dir, **build_options)
    push = {"private": private, "revision": revision, "create_pr": create_pr, "commit_message": commit_message}
    return push_folders(release.folders, api=api, **push)


def push_dataset_to_hub(
    release_dir: str | Path, repo_id: str, tokenizer: str | None = DEFAULT_TOKENIZER, **push_options: Any
) -> PushResult:
    """`build_dataset_repo` then `push_to_hub`: the CulTwin release folder in one commit.

    ``push_options`` are the keyword options of `push_to_hub` (``private``, ``revision``, ...).
    """
    return push_to_hub(build_dataset_repo(release_dir, repo_id, tokenizer), **push_options)


def _check_merged(merged: Path) -> None:
    if not (merged / "config.json").is_file():
        raise FileNotFoundError(f"{merged} has no config.json: the checkpoint lacks its merged CLIPModel.")
    if not any(merged.glob("*.safetensors")):
        raise ValueError(
            f"{merged} has no .safetensors weights; only safetensors are published. "
            "Re-save the model with `save_pretrained` (safetensors is its default)."
        )
    if not any((merged / name).is_file() for name in PROCESSOR_FILES):
        raise FileNotFoundError(
            f"{merged} has no {' or '.join(PROCESSOR_FILES)}: save the CLIPProcessor next to the model, "
            "or CLIPProcessor.from_pretrained and the zero-shot pipeline cannot load the release."
        )


def _check_evaluated_model(results: EvaluationResults, merged: Path, eval_dir: str | Path) -> None:
    """Refuses results that were not measured on ``merged``: each records the fingerprint of the
    model it scored (`cultureclip.evaluation.ClipEncoder.fingerprint`: weights, preprocessing, vocabulary)."""
    from cultureclip.evaluation import load_encoder

    fingerprint = load_encoder(str(merged)).fingerprint
    others = {
        benchmark: result.model
        for benchmark, result in results.model.items()
        if result.model.fingerprint != fingerprint
    }
    if others:
        scored = "; ".join(
            f"{benchmark} scored {model.name_or_path} (fingerprint {model.fingerprint[:12]})"
            for benchmark, model in others.items()
        )
        raise ValueError(
            f"{eval_dir} holds results of another model than {merged} (fingerprint {fingerprint[:12]}): {scored}. "
            f"Evaluate this checkpoint (`cultureclip evaluate --model {merged} ...`) and publish with that --eval-dir, "
            "or publish the --checkpoint these results belong to."
        )


def _copy_adapter(source: Path, target: Path, checkpoint: Path, base_model: str) -> list[str]:
    """Copies the adapter, its config naming ``base_model`` (a Hub id) instead of the folder it was trained from."""
    if not (source / "adapter_model.safetensors").is_file():
        raise ValueError(f"{source} has no adapter_model.safetensors; only safetensors adapters are published.")
    # peft writes a placeholder README.md next to the adapter; the release has cards of its own.
    skipped = _copy_safe(source, target, checkpoint, exclude=("README.md",))
    config_path = target / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config_path.write_text(
        json.dumps(config | {"base_model_name_or_path": base_model}, indent=2) + "\n", encoding="utf-8"
    )
    return skipped


def _copy_safe(source: Path, target: Path, checkpoint: Path, exclude: tuple[str, ...] = ()) -> list[str]:
    """Copies ``source`` into ``target`` without pickle files; returns the skipped ones."""
    skipped = []
    for path in sorted(source.rglob("*")):
        if not path.is_file() or is_marker(path) or path.relative_to(source).as_posix() in exclude:
            continue
        if path.suffix in PICKLE_SUFFIXES:
            skipped.append(str(path.relative_to(checkpoint)))
            continue
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    return skipped
