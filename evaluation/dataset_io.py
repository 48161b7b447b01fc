"""Opening a benchmark's dataset and indexing its images by content without decoding them."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path


def open_dataset(source, *, split: str, config: str | None = None, revision: str | None = None):
    """Load one split and describe where it came from.

    Args:
        source: a loaded `datasets.Dataset`, a folder written by ``save_to_disk``, a local data
            folder (Parquet, imagefolder, ...) or a Hub dataset id.
        split: the split to evaluate.
        config: the dataset configuration (Hub datasets with several).
        revision: Hub revision (branch, tag or commit).

    Returns:
        ``{"dataset": Dataset, "info": {"id", "config", "split", "revision", "fingerprint"}}``;
        ``id`` is the Hub id, the absolute path of a local folder (never mistaken for a Hub id,
        wherever the results are read) or ``None`` for a loaded dataset. For a Hub dataset
        ``revision`` is the commit that was read (``revision`` resolved, see
        `resolve_revision`).
    """
    from datasets import Dataset, DatasetDict, load_from_disk

    from cultureclip.dataset_builder.loading import load_split
    from cultureclip.dataset_builder.revisions import resolve_revision

    if isinstance(source, os.PathLike):
        source = str(source)
    if isinstance(source, Dataset):
        dataset, name = source, None
    elif saved_to_disk(source):
        dataset, name = load_from_disk(str(source)), str(Path(source).resolve())
        if isinstance(dataset, DatasetDict):
            if split not in dataset:
                raise ValueError(
                    f"{source} has splits {sorted(dataset)}, not {split!r}; choose one with the split option."
                )
            dataset = dataset[split]
    elif isinstance(source, str):
        revision = resolve_revision(source, revision)
        dataset = load_split(source, config, split=split, revision=revision)
        name = str(Path(source).resolve()) if Path(source).exists() else source
    else:
        raise TypeError(f"dataset must be a datasets.Dataset, a path or a Hub id, not {type(source).__name__}.")
    info = {"id": name, "config": config, "split": split, "revision": revision, "fingerprint": dataset._fingerprint}
    return {"dataset": dataset, "info": info}


def saved_to_disk(source: str) -> bool:
    """Whether ``source`` is a folder written by ``save_to_disk`` (one configuration, no data files)."""
    path = Path(source)
    return path.is_dir() and any((path / name).is_file() for name in ("state.json", "dataset_dict.json"))


def require_columns(dataset, columns: dict[str, str], benchmark: str) -> None:
    """Raise a `ValueError` naming each missing column and the option that maps it.

    Args:
        columns: option name -> the column it names (e.g. ``{"region_column": "region"}``).
    """
    missing = {option: column for option, column in columns.items() if column not in dataset.column_names}
    if missing:
        fixes = "; ".join(
            f"column {column!r} (set {option}=NAME, on the command line --option {benchmark}.{option}=NAME)"
            for option, column in missing.items()
        )
        raise ValueError(f"The {benchmark} dataset has no {fixes}. Its columns are {dataset.column_names}.")


@dataclass
class ImageIndex:
    """The images of one column, keyed by the SHA-1 of their bytes.

    Attributes:
        keys: per row, the key of its image (or a list of keys for a list-of-images column).
        where: per key, the first ``(row, position)`` that holds it (position ``None`` for a plain
            image column), to read its bytes again when it is encoded.
        unreadable: keys of images whose bytes could not be read at all, with the reason.
    """

    dataset: object
    column: str
    keys: list = field(default_factory=list)
    where: dict = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)

    def read(self, key: str) -> bytes:
        row, position = self.where[key]
        value = self.dataset[row][self.column]
        return _image_bytes(value if position is None else value[position])["bytes"]


def index_images(dataset, column: str) -> ImageIndex:
    """Hash every image of ``column`` (an ``Image`` or a list of ``Image``) without decoding it."""
    from datasets import Image, List, Sequence

    feature = dataset.features[column]
    listed = isinstance(feature, List | Sequence)
    if not isinstance(feature.feature if listed else feature, Image):
        raise ValueError(
            f"Column {column!r} holds {feature}, not images; map the image column option to one that does."
        )
    raw = dataset.select_columns([column]).cast_column(
        column, List(Image(decode=False)) if listed else Image(decode=False)
    )
    index = ImageIndex(raw, column)
    values = (value for batch in raw.iter(batch_size=256) for value in batch[column])
    for row, value in enumerate(values):
        if listed:
            index.keys.append([_add(index, item, row, position) for position, item in enumerate(value or [])])
        else:
            index.keys.append(_add(index, value, row, None))
    return index


def _add(index: ImageIndex, value, row: int, position: int | None) -> str:
    read = _image_bytes(value)
    if read["bytes"] is None:
        key = f"unreadable:{index.column}:{row}:{position}"
        index.unreadable[key] = read["error"]
    else:
        key = hashlib.sha1(read["bytes"]).hexdigest()
    index.where.setdefault(key, (row, position))
    return key


def _image_bytes(value) -> dict:
    """``{"bytes", "error"}`` of an undecoded image value ``{"bytes", "path"}``."""
    if value is None:
        return {"bytes": None, "error": "the image is missing (null)"}
    if value.get("bytes") is not None:
        return {"bytes": value["bytes"], "error": None}
    path = value.get("path")
    try:
        return {"bytes": Path(path).read_bytes(), "error": None}
    except (OSError, TypeError) as error:
        return {"bytes": None, "error": f"cannot read {path!r}: {error}"}
