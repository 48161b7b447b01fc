"""Shared scoring: a run context over one dataset, multiple-choice questions and per-group accuracy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .cache import EmbeddingStore
from .dataset_io import ImageIndex, index_images
from .encoder import ClipEncoder, EncodingStats
from .metrics import multiple_choice_accuracy


@dataclass
class Question:
    """One zero-shot multiple-choice question: which option text matches the image best?

    Attributes:
        image: the image (a content key when scored; any id in protocol tests).
        options: the option texts, in the order the model sees them.
        correct_idx: index of the correct option.
        fields: the row index and the group fields reported with the item (region, category...).
    """

    image: Any
    options: list[str]
    correct_idx: int
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What a benchmark module gets: the dataset, the encoder, the embedding store and its options."""

    dataset: object
    encoder: ClipEncoder
    store: EmbeddingStore
    options: dict[str, Any]
    seed: int
    stats: EncodingStats = field(default_factory=EncodingStats)
    indexes: list[ImageIndex] = field(default_factory=list)

    def index_images(self, column: str) -> ImageIndex:
        """Index the images of ``column`` (see `index_images`), remembering it for reading them."""
        index = index_images(self.dataset, column)
        self.indexes.append(index)
        self.store.unreadable.update(index.unreadable)
        return index

    def image_embeddings(self, keys: Iterable[str]) -> dict:
        """Embeddings of the readable images among ``keys`` (encoding those not yet stored)."""
        keys = list(dict.fromkeys(keys))
        self.encoder.encode_images(keys, self._read, self.store, self.stats)
        return {key: self.store.images[key] for key in keys if key in self.store.images}

    def text_embeddings(self, texts: Iterable[str]) -> dict:
        """Embeddings of ``texts``, each distinct text encoded once."""
        texts = list(dict.fromkeys(texts))
        self.encoder.encode_texts(texts, self.store, self.stats)
        return {text: self.store.texts[text] for text in texts}

    def unreadable_report(self, keys: Iterable[str]) -> list[dict]:
        """``[{"image", "row", "error"}]`` for the unreadable images among ``keys``."""
        report = []
        for key in dict.fromkeys(keys):
            if key in self.store.unreadable:
                row = next((index.where[key][0] for index in self.indexes if key in index.where), None)
                report.append({"image": key, "row": row, "error": self.store.unreadable[key]})
        return report

    def _read(self, key: str) -> bytes:
        for index in self.indexes:
            if key in index.where:
                return index.read(key)
        raise KeyError(f"No indexed image column holds the image {key!r}.")


def score_multiple_choice(context: Context, questions: Sequence[Question], group_fields: Sequence[str] = ()) -> dict:
    """Answer every question with CLIP similarities and report accuracy, groups and items.

    Questions whose image is unreadable are not scored: they are counted in ``skipped`` and their
    images listed in ``unreadable_images``.
    """
    import torch

    if not questions:
        raise ValueError("The dataset yields no questions after the benchmark's filters; check the split and columns.")
    images = context.image_embeddings(question.image for question in questions)
    texts = context.text_embeddings(option for question in questions for option in question.options)
    items, skipped = [], 0
    for question in questions:
        if question.image not in images:
            skipped += 1
            continue
        scores = torch.stack([texts[option] for option in question.options]) @ images[question.image]
        items.append({**asdict(question), "predicted_idx": int(scores.argmax())})
    return {
        **accuracy_of(items),
        "groups": group_accuracy(items, group_fields),
        "skipped": skipped,
        "unreadable_images": context.unreadable_report(question.image for question in questions),
        "items": items,
    }


def accuracy_of(items: Sequence[dict]) -> dict:
    """``{"accuracy", "correct", "total"}`` of items with ``predicted_idx`` and ``correct_idx``."""
    if not items:
        raise ValueError("No question could be scored: every image is unreadable (see unreadable_images).")
    return multiple_choice_accuracy(
        predictions=[item["predicted_idx"] for item in items], references=[item["correct_idx"] for item in items]
    )


def group_accuracy(items: Sequence[dict], group_fields: Sequence[str]) -> dict:
    """``{field: {value: {"accuracy", "correct", "total"}}}`` over the items' ``fields``."""
    groups = {}
    for name in group_fields:
        by_value = defaultdict(list)
        for item in items:
            by_value[str(item["fields"][name])].append(item)
        groups[name] = {value: accuracy_of(members) for value, members in sorted(by_value.items())}
    return groups
