"""Model and dataset references (a Hub id or a local folder), checked before anything loads.

A reference that can only be a local path and does not exist fails with "not found" at once; so
does, offline (``HF_HUB_OFFLINE=1`` or the Hub unreachable), a Hub id that is not in the local
cache, naming the option that takes a local folder instead. Without these checks the libraries
retry the network for up to a minute and then raise an error about the wrong thing.
"""

from __future__ import annotations

import os
import socket
import threading
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

from .errors import UserError

_TRUE = ("1", "true", "yes", "on")
PROBE_TIMEOUT_S = 3.0
"""How long the one network probe waits for the Hub before the run counts as offline."""


def looks_like_path(reference: str) -> bool:
    """Whether a model, tokenizer or dataset reference can only be a local path: absolute, ``~``- or
    dot-relative, or with more than one ``/`` (a Hub id is ``name`` or ``org/name``)."""
    return reference.startswith(("/", "~", "./", "../")) or reference in (".", "..") or reference.count("/") > 1


def _is_repo_id(reference: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(reference)
    except HFValidationError:
        return False
    return True


@cache
def _reachable(endpoint: str) -> bool:
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    reached = []

    def probe():  # in a thread: name resolution has no timeout of its own
        try:
            socket.create_connection((url.hostname, port), timeout=PROBE_TIMEOUT_S).close()
            reached.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT_S)
    return bool(reached)


def offline_reason() -> str | None:
    """Why the Hub cannot be used now (``HF_HUB_OFFLINE`` set, or no connection), or ``None``."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(name, "").lower() in _TRUE:
            return f"{name}={os.environ[name]}"
    endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    if not _reachable(endpoint):
        return f"{endpoint} cannot be reached"
    return None


def in_cache(repo_id: str, repo_type: str = "model") -> bool:
    """Whether a snapshot of ``repo_id`` is in the Hugging Face cache (or, for a dataset, in the
    ``datasets`` cache), so that it loads offline."""
    from huggingface_hub import constants

    snapshots = Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}" / "snapshots"
    if snapshots.is_dir() and any(path.is_dir() and any(path.iterdir()) for path in snapshots.iterdir()):
        return True
    if repo_type == "dataset":
        import datasets.config

        return (Path(datasets.config.HF_DATASETS_CACHE) / repo_id.replace("/", "___")).is_dir()
    return False


def check_reference(reference: str, option: str, repo_type: str = "model") -> None:
    """Raises `UserError` for a reference that cannot load: a local-looking path that does not
    exist, or, offline, a Hub id that is not in the cache.

    Args:
        reference: a Hub id (``org/name``) or a local folder.
        option: the flag or config field that named it (the message says to pass a local folder there).
        repo_type: ``"model"`` or ``"dataset"``.
    """
    if Path(reference).expanduser().exists():
        return
    if looks_like_path(reference) or not _is_repo_id(reference):
        raise UserError(f"{option} {reference!r} not found: no such local folder (a Hub id looks like org/name).")
    reason = offline_reason()
    if reason and not in_cache(reference, repo_type):
        raise UserError(
            f"{option} {reference!r} is neither a local folder nor a Hub id in the local cache, and the Hub is "
            f"offline ({reason}); give {option} a local folder, or download it first (hf download {reference}"
            f"{' --repo-type dataset' if repo_type == 'dataset' else ''})."
        )
