"""Pinning Hub repositories: the commit a branch or tag points at when a model or dataset is read."""

from __future__ import annotations

from pathlib import Path


def resolve_revision(path: str, revision: str | None = None, repo_type: str = "dataset") -> str | None:
    """The commit sha that the Hub repository ``path`` has at ``revision`` (default branch when ``None``).

    Loading that sha instead of a branch name pins what is read, and a record that names it stays
    true after the branch moves. A local folder has no Hub revision and offline mode
    (``HF_HUB_OFFLINE=1``) cannot ask the Hub: both give ``revision`` back unchanged.

    Args:
        path: a Hub id (``org/name``) or a local folder.
        revision: a branch, tag or commit.
        repo_type: ``"dataset"`` or ``"model"``.

    Raises:
        huggingface_hub.errors.RepositoryNotFoundError, RevisionNotFoundError: as the Hub answers.
    """
    from datasets import config
    from huggingface_hub import HfApi, is_offline_mode

    if Path(path).exists() or is_offline_mode() or config.HF_HUB_OFFLINE:
        return revision
    if repo_type == "dataset":
        return HfApi().dataset_info(path, revision=revision).sha
    return HfApi().model_info(path, revision=revision).sha
