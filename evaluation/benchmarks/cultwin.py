"""CulTwin twin accuracy: can the model tell a concept from its culturally different visual twin?

Reads the ``concepts`` configuration of the CulTwin release (split ``test``), where every image is
stored once; a concept and its twin are always in the same split. Every image is an anchor:

- concept level: the image against its own concept name and its twin's;
- caption level: the image against its own caption and each caption of the twin (the release's
  caption pairs: every caption of a concept with every caption of its twin).

The options of a twin pair are always in one order (the concept whose ``concept_id`` sorts first,
then its twin), so no randomness is involved. Identical questions (same image bytes, same options)
are asked once. Accuracy is reported per level, and per category and country within each level;
the headline ``accuracy`` is the concept level.
"""

from __future__ import annotations

from collections.abc import Sequence

from cultureclip import CULTWIN_REPO_ID

from ..scoring import Context, Question, group_accuracy, score_multiple_choice

DATASET = CULTWIN_REPO_ID
CONFIG = "concepts"
SPLIT = "test"
COLUMNS: dict = {}
OPTIONS: dict = {}
REQUIRED = ("concept_id", "concept", "country", "category", "captions", "images", "twin_concept_id")


def build_questions(rows: Sequence[dict], images: Sequence[Sequence]) -> list[Question]:
    """Concept- and caption-level questions for every image of every concept, without repeats.

    Args:
        rows: ``concepts`` rows (without images): ``concept_id``, ``concept``, ``country``, ``category``,
            ``captions`` and ``twin_concept_id``.
        images: per row, a key per image (aligned with its ``captions``).

    Raises:
        ValueError: a concept's twin has no row (the rows are not a whole split of a release).
    """
    by_id = {record["concept_id"]: record for record in rows}
    questions, seen = [], set()
    for row, record in enumerate(rows):
        twin = by_id.get(record["twin_concept_id"])
        if twin is None:
            raise ValueError(
                f"concept {record['concept_id']!r} has its twin {record['twin_concept_id']!r} in no row; evaluate a "
                "whole split of a CulTwin release (a concept and its twin are always in the same split)."
            )
        own = 0 if record["concept_id"] < twin["concept_id"] else 1
        fields = {key: record[key] for key in ("category", "country", "concept")}
        for image, caption in zip(images[row], record["captions"]):
            asked = [("concept", record["concept"], twin["concept"])]
            asked += [("caption", caption, twin_caption) for twin_caption in twin["captions"]]
            for level, mine, theirs in asked:
                options = [mine, theirs] if own == 0 else [theirs, mine]
                if (image, *options) in seen:
                    continue
                seen.add((image, *options))
                questions.append(Question(image, options, own, {"row": row, "level": level, **fields}))
    return questions


def run(context: Context) -> dict:
    dataset = context.dataset
    missing = [column for column in REQUIRED if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"The cultwin benchmark needs the CulTwin 'concepts' schema; the dataset lacks {missing} "
            f"(its columns are {dataset.column_names}). Point --dataset cultwin=... at a CulTwin release "
            "and pick its 'concepts' configuration (config=concepts)."
        )
    rows = dataset.select_columns([column for column in REQUIRED if column != "images"]).to_list()
    category = dataset.features["category"]
    if hasattr(category, "int2str"):
        for record in rows:
            record["category"] = category.int2str(record["category"])
    images = context.index_images("images").keys
    result = score_multiple_choice(context, build_questions(rows, images), group_fields=("level",))
    for level in ("concept", "caption"):
        items = [item for item in result["items"] if item["fields"]["level"] == level]
        result[f"{level}_accuracy"] = result["groups"]["level"][level]["accuracy"]
        for name, values in group_accuracy(items, ("category", "country")).items():
            result["groups"][f"{level}_{name}"] = values
    return {**result, **result["groups"]["level"]["concept"]}
