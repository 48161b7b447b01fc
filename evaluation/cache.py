"""On-disk embedding cache, one folder per (model, preprocessing, dataset) identity.

Images are keyed by the SHA-1 of their bytes and texts by the text itself, so a second benchmark
on the same data, or a re-run, encodes nothing it has already encoded. Images that could not be
decoded are remembered too, with the reason, so that a re-run reports them without re-reading.
"""

from __future__ import annotations

import json
import os
import pickle
from contextlib import contextmanager
from pathlib import Path

CACHE_ENV = "CULTURECLIP_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/cultureclip")


def default_cache_dir() -> Path:
    """``$CULTURECLIP_CACHE`` when set, else ``~/.cache/cultureclip``."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


class EmbeddingStore:
    """Image and text embeddings of one model on one dataset, in memory and optionally on disk.

    Args:
        directory: where the embeddings are saved; ``None`` keeps them in memory only.
    """

    def __init__(self, directory: Path | None = None):
        self.directory = directory
        self.images: dict[str, object] = {}
        self.texts: dict[str, object] = {}
        self.unreadable: dict[str, str] = {}
        if directory is not None and (directory / "images.pt").is_file():
            self._load()

    @classmethod
    def open(cls, cache_dir: str | Path | None, model_id: str, dataset_id: str) -> EmbeddingStore:
        """The store of ``(model_id, dataset_id)`` under ``cache_dir`` (``None``: in memory only)."""
        if cache_dir is None:
            return cls()
        return cls(Path(cache_dir).expanduser() / "embeddings" / f"{model_id[:16]}-{dataset_id[:16]}")

    def _load(self):
        import torch

        try:
            for name in ("images", "texts"):
                saved = torch.load(self.directory / f"{name}.pt", weights_only=True)
                setattr(self, name, dict(zip(saved["keys"], saved["embeds"])))
            self.unreadable = json.loads((self.directory / "unreadable.json").read_text())
        except (OSError, RuntimeError, KeyError, ValueError, EOFError, pickle.UnpicklingError) as error:
            raise RuntimeError(
                f"The embedding cache {self.directory} cannot be read ({type(error).__name__}: {error}); "
                "delete that folder, or run without the cache (use_cache=False, --no-cache)."
            ) from error

    def save(self) -> None:
        """Write the embeddings to the store's folder (no-op for an in-memory store).

        Each file is written next to its final name and moved into place, so an interrupted save
        leaves the previous cache whole.
        """
        if self.directory is None:
            return
        import torch

        self.directory.mkdir(parents=True, exist_ok=True)
        for name in ("images", "texts"):
            table = getattr(self, name)
            embeds = torch.stack(list(table.values())) if table else torch.empty(0)
            with self._written(f"{name}.pt") as path:
                torch.save({"keys": list(table), "embeds": embeds}, path)
        with self._written("unreadable.json") as path:
            path.write_text(json.dumps(self.unreadable, indent=1))

    @contextmanager
    def _written(self, name: str):
        """A path to write ``name`` to, moved over ``name`` once the block has finished."""
        partial = self.directory / f"{name}.partial"
        yield partial
        os.replace(partial, self.directory / name)
