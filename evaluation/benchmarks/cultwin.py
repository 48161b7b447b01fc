"""CulTwin twin accuracy: can the model tell a concept from its culturally different visual twin?

Reads a split (``test``) of a CulTwin release: its ``concepts`` configuration, where every image is
stored once, and the caption pairs of its ``pairs`` configuration at the same revision and split
(texts and image references only; a concept and its twin are always in the same split).

- concept level: every image against its own concept name and its twin's. The options of a twin
  pair are always in one order (the concept whose ``concept_id`` sorts first, then its twin).
- caption level: the release's caption pairs, both images of a pair as anchors: each image against
  ``[pos_caption, neg_caption]``, so a release that samples caption pairs is asked only those.

No randomness is involved. Identical questions (same image bytes, same options) are asked once.
Accuracy is reported per level, and per category and country within each level; the headline
``accuracy`` is the concept level.
"""

from __future__ import annotations

from collections.abc import Sequence

from cultureclip import CULTWIN_REPO_ID

from ..scoring import Context, Question, group_accuracy, score_multiple_choice

DATASET = CULTWIN_REPO_ID
CONFIG = "concepts"
PAIRS_CONFIG = "pairs"
SPLIT = "test"
COLUMNS: dict = {}
OPTIONS: dict = {}
REQUIRED = ("concept_id", "concept", "country", "category", "captions", "images", "twin_concept_id")
SIDES = ("pos", "neg")
PAIR_COLUMNS = ("pair_id", *(f"{side}_{name}" for side in SIDES for name in ("concept_id", "image_index", "caption")))


def build_questions(rows: Sequence[dict], images: Sequence[Sequence], pairs: Sequence[dict]) -> list[Question]:
    """Concept-level questions for every image and caption-level questions for every caption pair, without repeats.

    Args:
        rows: ``concepts`` rows (without images): ``concept_id``, ``concept``, ``country``, ``category``,
            ``captions`` and ``twin_concept_id``.
        images: per row, a key per image (aligned with its ``captions``).
        pairs: ``pairs`` rows of the same split (without quality): ``pair_id`` and, per side ``pos`` /
            ``neg``, ``concept_id``, ``image_index`` and ``caption``.

    Raises:
        ValueError: a concept's twin has no row, or a pair names an image the rows do not hold (the
            rows are not a whole split of one release).
    """
    by_id = {record["concept_id"]: record for record in rows}
    row_of = {record["concept_id"]: row for row, record in enumerate(rows)}
    questions, seen = [], set()

    def ask(image, options, correct_idx, fields):
        if (image, *options) not in seen:
            seen.add((image, *options))
            questions.append(Question(image, options, correct_idx, fields))

    for row, record in enumerate(rows):
        twin = by_id.get(record["twin_concept_id"])
        if twin is None:
            raise ValueError(
                f"concept {record['concept_id']!r} has its twin {record['twin_concept_id']!r} in no row; evaluate a "
                "whole split of a CulTwin release (a concept and its twin are always in the same split)."
            )
        own = 0 if record["concept_id"] < twin["concept_id"] else 1
        options = [record["concept"], twin["concept"]] if own == 0 else [twin["concept"], record["concept"]]
        for image in images[row]:
            ask(image, options, own, {"row": row, "level": "concept", **_anchor(record)})
    for pair in pairs:
        options = [pair["pos_caption"], pair["neg_caption"]]
        for correct_idx, side in enumerate(SIDES):
            concept_id, index = pair[f"{side}_concept_id"], pair[f"{side}_image_index"]
            row = row_of.get(concept_id)
            if row is None or index is None or not 0 <= index < len(images[row]):
                held = "no row" if row is None else f"{len(images[row])} image(s)"
                raise ValueError(
                    f"pair {pair['pair_id']!r} names image {index} of concept {concept_id!r}, and the 'concepts' "
                    f"configuration of this split has {held} for it; evaluate a whole split (no slice) of a release "
                    "whose 'pairs' and 'concepts' were built together (cultureclip build-dataset)."
                )
            fields = {"row": row, "pair": pair["pair_id"], "level": "caption", **_anchor(rows[row])}
            ask(images[row][index], options, correct_idx, fields)
    return questions


def _anchor(record: dict) -> dict:
    return {key: record[key] for key in ("category", "country", "concept")}


def run(context: Context) -> dict:
    dataset = context.dataset
    missing = [column for column in REQUIRED if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"The cultwin benchmark needs the CulTwin 'concepts' schema; the dataset lacks {missing} "
            f"(its columns are {dataset.column_names}). Point --dataset cultwin=... at a CulTwin release "
            "and pick its 'concepts' configuration (config=concepts)."
        )
    pairs = context.open_config(PAIRS_CONFIG)
    missing = [column for column in PAIR_COLUMNS if column not in pairs.column_names]
    if missing:
        raise ValueError(
            f"The cultwin benchmark reads the caption pairs of the release's 'pairs' configuration, which lacks "
            f"{missing} (its columns are {pairs.column_names}); rebuild the release with cultureclip build-dataset."
        )
    rows = dataset.select_columns([column for column in REQUIRED if column != "images"]).to_list()
    category = dataset.features["category"]
    if hasattr(category, "int2str"):
        for record in rows:
            record["category"] = category.int2str(record["category"])
    images = context.index_images("images").keys
    questions = build_questions(rows, images, pairs.select_columns(list(PAIR_COLUMNS)).to_list())
    result = score_multiple_choice(context, questions, group_fields=("level",))
    for level in ("concept", "caption"):
        items = [item for item in result["items"] if item["fields"]["level"] == level]
        result[f"{level}_accuracy"] = result["groups"]["level"][level]["accuracy"]
        for name, values in group_accuracy(items, ("category", "country")).items():
            result["groups"][f"{level}_{name}"] = values
    return {**result, **result["groups"]["level"]["concept"]}
