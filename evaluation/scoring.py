"""Shared scoring: a run context over one dataset, multiple-choice questions and per-group accuracy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .cache import EmbeddingStore
from .dataset_io import ImageIndex, index_images, open_dataset, saved_to_disk
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
    """What a benchmark module gets: the dataset, the encoder, the embedding store and its options.

    ``info`` is the dataset's `open_dataset` description (where it was read, at which revision), so
    that a benchmark can read another configuration of the same dataset (`open_config`).
    """

    dataset: object
    encoder: ClipEncoder
    store: EmbeddingStore
    options: dict[str, Any]
    seed: int
    info: dict[str, Any] = field(default_factory=dict)
    stats: EncodingStats = field(default_factory=EncodingStats)
    indexes: list[ImageIndex] = field(default_factory=list)
    dropped_rows: list[int] = field(default_factory=list)
    dropped_images: list[str] = field(default_factory=list)
    _decodable: set[str] = field(default_factory=set, repr=False)

    def index_images(self, column: str) -> ImageIndex:
        """Index the images of ``column`` (see `index_images`), remembering it for reading them."""
        index = index_images(self.dataset, column)
        self.indexes.append(index)
        self.store.unreadable.update(index.unreadable)
        return index

    def open_config(self, config: str):
        """The ``config`` configuration of the same dataset, at the same split and revision.

        The revision is the commit the scored configuration was read at (`open_dataset`), so both
        come from one snapshot of a Hub dataset.

        Raises:
            ValueError: the dataset was given loaded or as a ``save_to_disk`` folder, which hold one
                configuration only.
        """
        source = self.info.get("id")
        if source is None or saved_to_disk(source):
            given = "a loaded Dataset" if source is None else f"the save_to_disk folder {source}"
            raise ValueError(
                f"This benchmark also reads the {config!r} configuration of its dataset, and {given} holds only "
                "one: pass the dataset's Hub id or its folder of data files (e.g. the folder build-dataset wrote)."
            )
        return open_dataset(source, split=self.info["split"], config=config, revision=self.info["revision"])["dataset"]

    def readable_rows(self, *indexes: ImageIndex) -> list[bool]:
        """Per row, whether every image of the row in ``indexes`` decodes (`cultureclip.imaging.image_problem`).

        The public scripts drop such rows before they build any map or draw any random number; the
        dropped rows are remembered and reported by `score_multiple_choice` (``skipped`` and
        ``unreadable_images``). Images already embedded or already found unreadable (cache) are
        not decoded again.
        """
        from cultureclip.imaging import image_problem

        rows = [_flat(keys) for keys in zip(*(index.keys for index in indexes))]
        for key in dict.fromkeys(key for row in rows for key in row):
            if key in self.store.images or key in self.store.unreadable or key in self._decodable:
                continue
            problem = image_problem(self._read(key))
            if problem:
                self.store.unreadable[key] = problem
            else:
                self._decodable.add(key)
        readable = [not any(key in self.store.unreadable for key in row) for row in rows]
        self.dropped_rows = [row for row, ok in enumerate(readable) if not ok]
        self.dropped_images = [key for row in self.dropped_rows for key in rows[row]]
        return readable

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


def _flat(keys: tuple) -> list[str]:
    """The image keys of one row across image columns, a list-of-images column flattened."""
    return [key for value in keys for key in (value if isinstance(value, list) else [value])]


def score_multiple_choice(context: Context, questions: Sequence[Question], group_fields: Sequence[str] = ()) -> dict:
    """Answer every question with CLIP similarities and report accuracy, groups and items.

    Rows dropped by `Context.readable_rows` and questions whose image is unreadable are not
    scored: they are counted in ``skipped`` and their unreadable images listed in
    ``unreadable_images`` (with the row and the reason).
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
        "skipped": skipped + len(context.dropped_rows),
        "unreadable_images": context.unreadable_report(
            [*context.dropped_images, *(question.image for question in questions)]
        ),
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
