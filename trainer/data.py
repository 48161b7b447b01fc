"""The training data: CulTwin ``pairs`` from the Hub or a local folder, checked row by row before training.

A release's ``pairs`` rows name their images in its ``concepts`` config (each image stored once);
`load_split` loads those too, as `ConceptImages`, for `DataCollatorForCulTwin`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .collator import IMAGE_COLUMNS, TEXT_COLUMNS, InvalidRowError, describe_row, row_problem
from .images import ConceptImages, image_verdict

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)


@dataclass
class DataArguments:
    """Where the model and the CulTwin pairs come from (the non-Trainer options of ``cultureclip train``).

    Args:
        base_model: Hub id or local path of the ``CLIPModel`` (and its processor) to fine-tune.
        base_model_revision: a Hub revision (branch, tag or commit) of the base model.
        dataset: Hub id or local folder of CulTwin ``pairs`` data, as ``load_dataset`` takes it.
        dataset_config: the dataset's config name (``None``: its default).
        dataset_revision: a Hub revision (branch, tag or commit) to pin the data to.
        train_split: split to train on.
        eval_split: split to evaluate on during training (``None``: no evaluation).
    """

    base_model: str = field(
        default="openai/clip-vit-base-patch32", metadata={"help": "Hub id or local path of the CLIPModel."}
    )
    base_model_revision: str | None = field(default=None, metadata={"help": "Hub revision of the base model."})
    dataset: str | None = field(default=None, metadata={"help": "Hub id or local folder of CulTwin pairs."})
    dataset_config: str | None = field(default=None, metadata={"help": "Config name of the dataset."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub revision of the dataset."})
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_split: str | None = field(default=None, metadata={"help": "Split to evaluate on (default: none)."})


def is_release_pairs(dataset: Dataset) -> bool:
    """Whether ``dataset`` holds a release's ``pairs`` rows, which name their images in ``concepts``."""
    columns = set(dataset.column_names)
    return not columns & set(IMAGE_COLUMNS) and {f"{c}_index" for c in IMAGE_COLUMNS} <= columns


def load_split(args: DataArguments, split: str) -> tuple[Dataset, Dataset | None]:
    """The ``pairs`` rows of ``split`` and, for a release whose pairs name their images, its ``concepts`` rows.

    Returns:
        ``(pairs, concepts)``; ``concepts`` is ``None`` when the pairs carry their images.
    """
    from cultureclip.dataset_builder.loading import load_split as load_checked_split

    if not args.dataset:
        raise ValueError(
            "No training data: pass --dataset with a Hub id (e.g. org/cultwin) or a local folder of CulTwin pairs."
        )
    path = str(Path(args.dataset).resolve()) if Path(args.dataset).exists() else args.dataset
    dataset = load_checked_split(path, args.dataset_config, split=split, revision=args.dataset_revision)
    if is_release_pairs(dataset):
        concepts = load_checked_split(path, "concepts", split=split, revision=args.dataset_revision)
        return dataset, concepts
    missing = sorted(set(IMAGE_COLUMNS + TEXT_COLUMNS) - set(dataset.column_names))
    if missing:
        raise ValueError(
            f"Dataset {args.dataset!r} (split {split!r}) lacks the CulTwin pair columns {missing}; "
            "point --dataset at CulTwin 'pairs' data."
        )
    return dataset, None


def concept_images(concepts: list[Dataset], *pair_datasets: Dataset | None) -> ConceptImages | None:
    """The `ConceptImages` of ``concepts`` (splits of a release's ``concepts``), when a pairs dataset needs them.

    Raises:
        ValueError: a dataset holds release ``pairs`` rows and no ``concepts`` rows were given.
    """
    from datasets import concatenate_datasets

    if not any(dataset is not None and is_release_pairs(dataset) for dataset in pair_datasets):
        return None
    if not concepts:
        raise ValueError(
            "The pairs name their images in the release's 'concepts' config (pos_image_index, neg_image_index) "
            "but no concepts were given: pass concepts=load_dataset(<release>, 'concepts', split=...)."
        )
    return ConceptImages(concatenate_datasets(concepts))


@dataclass
class CheckedPairs:
    """The rows that can be trained on, and how many were dropped."""

    dataset: Dataset
    dropped_rows: int


def check_pairs(
    dataset: Dataset, drop_invalid_rows: bool = False, images: ConceptImages | None = None
) -> CheckedPairs:
    """Find rows with a missing/undecodable image or an empty caption or concept name.

    Images are judged by `cultureclip.imaging.image_problem` (a full decode, the check every command
    uses), each distinct image once (a CulTwin image is in 10 pairs); the images of release ``pairs``
    rows are looked up in ``images``. Image columns that hold file paths are cast to
    ``datasets.Image`` in the returned dataset.

    Raises:
        InvalidRowError: when a row is invalid and ``drop_invalid_rows`` is False; the message names
            the first such row and the number of invalid rows.
    """
    from datasets import Image

    for column in IMAGE_COLUMNS:
        if column in dataset.column_names and not isinstance(dataset.features[column], Image):
            dataset = dataset.cast_column(column, Image())  # file paths (JSON Lines, CSV pairs) become images
    references = [f"{side}_{name}" for side in ("pos", "neg") for name in ("concept_id", "image_index")]
    wanted = ("pair_id", *IMAGE_COLUMNS, *TEXT_COLUMNS, *references)
    undecoded = dataset.select_columns([c for c in wanted if c in dataset.column_names])
    for column in IMAGE_COLUMNS:
        if column in undecoded.column_names:
            undecoded = undecoded.cast_column(column, Image(decode=False))
    verdicts: dict = {}

    def check_image(image) -> str | None:
        key = hashlib.sha1(image["bytes"]).digest() if isinstance(image, dict) and image.get("bytes") else str(image)
        if key not in verdicts:
            verdicts[key] = image_verdict(image)
        return verdicts[key]

    rows = (row for batch in undecoded.iter(batch_size=1024) for row in _rows_of(batch))
    bad = [
        (index, row, problem) for index, row in enumerate(rows) if (problem := row_problem(row, images, check_image))
    ]
    if not bad:
        return CheckedPairs(dataset, 0)
    if not drop_invalid_rows:
        index, row, problem = bad[0]
        raise InvalidRowError(
            f"{len(bad)} invalid CulTwin row(s); the first is {describe_row(row, index)}: {problem}. Fix the "
            "data, or set drop_invalid_rows=True (--drop_invalid_rows) to drop and count such rows."
        )
    logger.warning("Dropping %d invalid CulTwin rows (first: %s: %s).", len(bad), describe_row(bad[0][1]), bad[0][2])
    invalid = {index for index, _, _ in bad}
    return CheckedPairs(dataset.select([i for i in range(len(dataset)) if i not in invalid]), len(bad))


def _rows_of(batch: dict[str, list]) -> list[dict]:
    return [dict(zip(batch, values)) for values in zip(*batch.values())]
