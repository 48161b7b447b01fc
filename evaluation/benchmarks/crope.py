"""CROPE: does the image show the culture-specific target concept or the concept it is defined by?

The public protocol: drop rows whose images cannot be decoded (before anything else); keep rows
whose ``answer`` is ``"no"`` compared case-insensitively; skip a row whose target or definition
concept is empty, before its shuffle; the options are "There is {target} in the image." and
"There is {definition} in the image.", shuffled once per row (``random.seed(42)`` once before the
walk); the main image must pick the target and each definition image the definition. Every image
is one question. A row counts as unreadable when its main image or any of its definition images
cannot be decoded (decoding the row decodes them all).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..scoring import Context, Question, score_multiple_choice

DATASET = "Malvinan/CROPE"
SPLIT = "test"
COLUMNS = {
    "image_column": "image",
    "definition_images_column": "definition_images",
    "metadata_column": "metadata",
    "answer_column": "answer",
}
OPTIONS: dict = {}
TEMPLATE = "There is {} in the image."
KEPT_ANSWER = "no"


def build_questions(
    images: Sequence,
    definition_images: Sequence[Sequence],
    metadata: Sequence[dict],
    answers: Sequence[str],
    seed: int,
    readable: Sequence[bool] | None = None,
) -> list[Question]:
    """The protocol's questions: per kept row, the main image then each definition image.

    ``readable``: per row, whether all its images decode (default: all); unreadable rows are
    dropped before any random call. ``fields["row"]`` is the row's index in the dataset.
    """
    rng = random.Random(seed)
    questions = []
    for row, (image, definitions, meta, answer) in enumerate(zip(images, definition_images, metadata, answers)):
        if (readable is not None and not readable[row]) or not _kept(meta, answer):
            continue
        target, definition = TEMPLATE.format(meta["image_en_concept"]), TEMPLATE.format(meta["definition_concept"])
        options = [target, definition]
        rng.shuffle(options)
        fields = {"row": row, "target": meta["image_en_concept"], "definition": meta["definition_concept"]}
        questions.append(Question(image, options, options.index(target), {**fields, "role": "target"}))
        for position, definition_image in enumerate(definitions):
            role = {**fields, "role": "definition", "position": position}
            questions.append(Question(definition_image, options, options.index(definition), role))
    return questions


def _kept(meta: dict, answer: str | None) -> bool:
    """The public filters: answer "no" in any case, and both concepts named."""
    return (
        (answer or "").lower() == KEPT_ANSWER and bool(meta["image_en_concept"]) and bool(meta["definition_concept"])
    )


def run(context: Context) -> dict:
    columns, dataset = context.options, context.dataset
    metadata = list(dataset[columns["metadata_column"]])
    for key in ("image_en_concept", "definition_concept"):
        if metadata and key not in metadata[0]:
            raise ValueError(
                f"The CROPE {columns['metadata_column']!r} column has no {key!r} field; "
                f"its fields are {sorted(metadata[0])}. Map metadata_column to the column that has it."
            )
    definitions = context.index_images(columns["definition_images_column"])
    if definitions.keys and not isinstance(definitions.keys[0], list):
        raise ValueError(
            f"The CROPE definition column {columns['definition_images_column']!r} holds one image per row, not a "
            "list of images; map definition_images_column to the column with the list of definition images."
        )
    main = context.index_images(columns["image_column"])
    answers = list(dataset[columns["answer_column"]])
    questions = build_questions(
        main.keys, definitions.keys, metadata, answers, context.seed, context.readable_rows(main, definitions)
    )
    result = score_multiple_choice(context, questions, group_fields=("role",))
    # Rows answered "no" that the protocol skips for an empty concept name: counted, not hidden.
    result["empty_concept_rows"] = [
        row
        for row, (meta, answer) in enumerate(zip(metadata, answers))
        if (answer or "").lower() == KEPT_ANSWER and not _kept(meta, answer)
    ]
    return result
