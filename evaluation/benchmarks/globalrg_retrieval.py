"""GlobalRG-Retrieval: is this a kind of {universal} in {region}, or in one of three other regions?

The public protocol: keep universals (bread, wedding, ...) seen in at least 4 regions; for each item
in order, sample 3 other regions of the same universal, build the 4 options from one template and
shuffle them; ``random.seed(42)`` once before the walk; rows whose image cannot be decoded are
dropped before all of this. The candidates are sorted before sampling (the public script samples
from ``list(a_set)``, whose order changes with the hash seed).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..scoring import Context, Question, score_multiple_choice
from .globalrg import four_way_questions

DATASET = "UBC-VL/GlobalRG-Retrieval"
SPLIT = "test"
COLUMNS = {"image_column": "image", "universal_column": "universal", "region_column": "region"}
OPTIONS: dict = {}
TEMPLATE = "The picture depicts a kind of {universal} in {region}"


def build_questions(
    images: Sequence,
    universals: Sequence[str],
    regions: Sequence[str],
    seed: int,
    readable: Sequence[bool] | None = None,
) -> list[Question]:
    """The protocol's questions, one per kept row, in dataset order (``readable``: see `four_way_questions`)."""

    def render(universal: str, region: str) -> str:
        return TEMPLATE.format(universal=universal, region=region)

    return four_way_questions(
        images, universals, regions, render, seed, names=("universal", "region"), readable=readable
    )


def run(context: Context) -> dict:
    columns, dataset = context.options, context.dataset
    index = context.index_images(columns["image_column"])
    questions = build_questions(
        index.keys,
        list(dataset[columns["universal_column"]]),
        list(dataset[columns["region_column"]]),
        context.seed,
        context.readable_rows(index),
    )
    return score_multiple_choice(context, questions, group_fields=("region",))
