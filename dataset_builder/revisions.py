"""Pinning Hub datasets: the commit a branch or tag points at when the data is read."""

from __future__ import annotations

from pathlib import Path


def resolve_dataset_revision(path: str, revision: str | None = None) -> str | None:
    """The commit sha that the Hub dataset ``path`` has at ``revision`` (default branch when ``None``).

    Loading that sha instead of a branch name pins the data, and a record that names it stays true
    after the branch moves. A local folder has no Hub revision and offline mode
    (``HF_HUB_OFFLINE=1``) cannot ask the Hub: both give ``revision`` back unchanged.

    Raises:
        huggingface_hub.errors.RepositoryNotFoundError, RevisionNotFoundError: as the Hub answers.
    """
    from datasets import config
    from huggingface_hub import HfApi

    if Path(path).exists() or config.HF_HUB_OFFLINE:
        return revision
    return HfApi().dataset_info(path, revision=revision).sha
