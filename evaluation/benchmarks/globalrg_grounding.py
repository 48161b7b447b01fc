"""GlobalRG-Grounding: which of four concepts of the same region is the item in the picture?

The public protocol: keep regions with at least 4 distinct concepts; for each item in order, sample 3
other concepts of its region, build the options from one template and shuffle them;
``random.seed(42)`` once before the walk; rows whose image cannot be decoded are dropped before
all of this. Candidates are sorted before sampling, which makes the options identical on every run.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..scoring import Context, Question, score_multiple_choice
from .globalrg import four_way_questions

DATASET = "UBC-VL/globalrg-grounding-task"
SPLIT = "test"
COLUMNS = {"image_column": "image", "region_column": "region", "concept_column": "concept"}
OPTIONS: dict = {}
TEMPLATE = "The item in the picture is {concept} in {region}"


def build_questions(
    images: Sequence,
    regions: Sequence[str],
    concepts: Sequence[str],
    seed: int,
    readable: Sequence[bool] | None = None,
) -> list[Question]:
    """The protocol's questions, one per kept row, in dataset order (``readable``: see `four_way_questions`)."""

    def render(region: str, concept: str) -> str:
        return TEMPLATE.format(concept=concept, region=region)

    return four_way_questions(images, regions, concepts, render, seed, names=("region", "concept"), readable=readable)


def run(context: Context) -> dict:
    columns, dataset = context.options, context.dataset
    index = context.index_images(columns["image_column"])
    questions = build_questions(
        index.keys,
        list(dataset[columns["region_column"]]),
        list(dataset[columns["concept_column"]]),
        context.seed,
        context.readable_rows(index),
    )
    return score_multiple_choice(context, questions, group_fields=("region",))
