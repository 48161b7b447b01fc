"""`DataCollatorForCulTwin`: CulTwin caption-pair rows into one batch for one vision and one text forward."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .images import ConceptImages, image_verdict

SIDES = ("pos", "neg")
IMAGE_COLUMNS = ("pos_image", "neg_image")
TEXT_COLUMNS = ("pos_caption", "neg_caption", "pos_concept", "neg_concept")
# The batch keys of the duplicate masks' ids, as `CultureCLIPLoss` takes them (``pos_caption_ids``...).
ID_KEYS = tuple(f"{column}_ids" for column in TEXT_COLUMNS)


class InvalidRowError(ValueError):
    """A CulTwin row with a missing or undecodable image, or an empty caption or concept name."""


def row_problem(
    row: dict[str, Any], images: ConceptImages | None = None, check_image: Callable[[Any], str | None] = image_verdict
) -> str | None:
    """What is wrong with a CulTwin row (``None`` when it can be trained on).

    A row's images are its ``pos_image``/``neg_image`` (PIL images or undecoded ``{"bytes", "path"}``
    dicts, judged by ``check_image``: `image_verdict`, the check every command uses; `check_pairs`
    passes a memoised one), or, in a release's ``pairs`` rows, the images its ``{side}_concept_id`` and
    ``{side}_image_index`` name in ``images``.
    """
    for side, column in zip(SIDES, IMAGE_COLUMNS):
        if column not in row and f"{column}_index" in row:
            if images is None:
                return (
                    f"{column} is in the release's 'concepts' config ({column}_index names it): pass "
                    "DataCollatorForCulTwin(processor, ConceptImages(concepts)) with those concepts rows"
                )
            problem = images.problem(row[f"{side}_concept_id"], row[f"{column}_index"])
        else:
            problem = check_image(row.get(column))
        if problem:
            return f"{column} {problem}"
    for column in TEXT_COLUMNS:
        text = row.get(column)
        if not isinstance(text, str) or not text.strip():
            return f"{column} is empty"
    return None


def describe_row(row: dict[str, Any], index: int | None = None) -> str:
    """``row 12 (pair_id 'p-000012')``: how errors name a row."""
    where = f"row {index}" if index is not None else "row"
    return f"{where} (pair_id {row['pair_id']!r})" if row.get("pair_id") else where


def stable_id(text: str) -> int:
    """A 63-bit id of a string that is the same in every process (unlike ``hash``), for the duplicate mask."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little") >> 1


@dataclass
class DataCollatorForCulTwin:
    """Collate CulTwin ``pairs`` rows for `CultureCLIPTrainer`.

    Reads ``pos_image, neg_image, pos_caption, neg_caption, pos_concept, neg_concept`` and the
    optional ``pos_concept_id, neg_concept_id``; other columns are ignored. Rows of a release's
    ``pairs`` config have no images but ``pos_image_index, neg_image_index``: their images come
    from ``images`` (the release's ``concepts``; read from its pixel cache after
    `ConceptImages.cache_pixels`). Every distinct string among the captions and concept names of
    the batch is tokenized once, padded to the longest (not to 77 tokens), and each row points at
    its texts by index.

    Args:
        processor: a ``CLIPProcessor`` (tokenizer + image processor).
        images: the `ConceptImages` that release ``pairs`` rows name (``None``: rows carry their images).

    Returns (from `__call__`): a dict of tensors:
        ``pixel_values`` ``(2B, 3, H, W)``: the B positive images, then the B twin images;
        ``input_ids``, ``attention_mask`` ``(U, L)``: the U distinct texts;
        ``pos_caption_index``, ``neg_caption_index``, ``pos_concept_index``, ``neg_concept_index``
        ``(B,)``: row -> text index; ``pos_concept_ids``, ``neg_concept_ids`` ``(B,)``: stable ids of
        the concepts (from ``*_concept_id`` when present, else from the name), equal for the same concept;
        ``pos_caption_ids``, ``neg_caption_ids`` ``(B,)``: stable ids of the caption texts.

    Raises:
        InvalidRowError: a row has a missing/undecodable image or an empty text; the message names
            the row. (``cultureclip train --drop_invalid_rows`` removes such rows before training.)
    """

    processor: Any
    images: ConceptImages | None = None

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        for row in rows:
            problem = row_problem(row, self.images)
            if problem:
                raise InvalidRowError(
                    f"CulTwin {describe_row(row)}: {problem}. Fix the data, or drop such rows before training "
                    "(CultureCLIPConfig.drop_invalid_rows=True)."
                )
        texts: dict[str, int] = {}
        indices = {column: [texts.setdefault(row[column], len(texts)) for row in rows] for column in TEXT_COLUMNS}
        tokens = self.processor.tokenizer(list(texts), padding="longest", truncation=True, return_tensors="pt")
        pixel_values = self._pixel_values(rows)
        batch = {
            "pixel_values": pixel_values,
            "input_ids": tokens["input_ids"],
            "attention_mask": tokens["attention_mask"],
            **{f"{column}_index": torch.tensor(index) for column, index in indices.items()},
        }
        for side in SIDES:
            keys = [_concept_key(row, side) for row in rows]
            batch[f"{side}_concept_ids"] = torch.tensor([stable_id(key) for key in keys])
            batch[f"{side}_caption_ids"] = torch.tensor([stable_id(row[f"{side}_caption"]) for row in rows])
        return batch

    def _pixel_values(self, rows: list[dict[str, Any]]):
        """The B positive images, then the B twin images."""
        from cultureclip.imaging import decode_image

        if all(column in rows[0] for column in IMAGE_COLUMNS) or self.images is None:
            images = [decode_image(row[column]) for column in IMAGE_COLUMNS for row in rows]
            return self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
        keys = [(row[f"{side}_concept_id"], row[f"{side}_image_index"]) for side in SIDES for row in rows]
        return self.images.pixel_values(keys, self.processor.image_processor)


def _concept_key(row: dict[str, Any], side: str) -> str:
    concept_id = row.get(f"{side}_concept_id")
    return f"id:{concept_id}" if concept_id else f"name:{row[f'{side}_concept']}"
