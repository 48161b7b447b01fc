"""CulTwin twin accuracy: can the model tell a concept from its culturally different visual twin?

Reads the ``pairs`` configuration of the CulTwin release (split ``test``). Both images of a pair
are anchors:

- concept level: the image against its own concept name and its twin's;
- caption level: the image against its own caption and the twin's caption.

The options are always ``[pos, neg]``, so no randomness is involved. Rows share images and captions
(every caption of a concept is paired with every caption of its twin), so identical questions
(same image bytes, same options) are asked once. Accuracy is reported per level, and per category and
country within each level; the headline ``accuracy`` is the concept level.
"""

from __future__ import annotations

from collections.abc import Sequence

from cultureclip import CULTWIN_REPO_ID

from ..scoring import Context, Question, group_accuracy, score_multiple_choice

DATASET = CULTWIN_REPO_ID
CONFIG = "pairs"
SPLIT = "test"
COLUMNS: dict = {}
OPTIONS: dict = {}
SIDES = ("pos", "neg")
FIELDS = ("concept", "country", "caption", "image")
REQUIRED = ("category",) + tuple(f"{side}_{name}" for side in SIDES for name in FIELDS)


def build_questions(rows: Sequence[dict], images: dict[str, Sequence]) -> list[Question]:
    """Concept- and caption-level questions for both anchors of every row, without repeats.

    Args:
        rows: dicts with ``category`` and the ``pos_*`` / ``neg_*`` concept, country and caption.
        images: ``{"pos": [key per row], "neg": [key per row]}``.
    """
    questions, seen = [], set()
    for row, record in enumerate(rows):
        for level in ("concept", "caption"):
            options = [record[f"pos_{level}"], record[f"neg_{level}"]]
            for correct_idx, side in enumerate(SIDES):
                image = images[side][row]
                if (image, *options) in seen:
                    continue
                seen.add((image, *options))
                fields = {
                    "row": row,
                    "level": level,
                    "side": side,
                    "category": record["category"],
                    "country": record[f"{side}_country"],
                    "concept": record[f"{side}_concept"],
                }
                questions.append(Question(image, options, correct_idx, fields))
    return questions


def run(context: Context) -> dict:
    dataset = context.dataset
    missing = [column for column in REQUIRED if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"The cultwin benchmark needs the CulTwin 'pairs' schema; the dataset lacks {missing} "
            f"(its columns are {dataset.column_names}). Point --dataset cultwin=... at a CulTwin release "
            "and pick its 'pairs' configuration (config=pairs)."
        )
    text_columns = [column for column in REQUIRED if not column.endswith("_image")]
    rows = dataset.select_columns(text_columns).to_list()
    category = dataset.features["category"]
    if hasattr(category, "int2str"):
        for record in rows:
            record["category"] = category.int2str(record["category"])
    images = {side: context.index_images(f"{side}_image").keys for side in SIDES}
    result = score_multiple_choice(context, build_questions(rows, images), group_fields=("level",))
    for level in ("concept", "caption"):
        items = [item for item in result["items"] if item["fields"]["level"] == level]
        result[f"{level}_accuracy"] = result["groups"]["level"][level]["accuracy"]
        for name, values in group_accuracy(items, ("category", "country")).items():
            result["groups"][f"{level}_{name}"] = values
    return {**result, **result["groups"]["level"]["concept"]}
