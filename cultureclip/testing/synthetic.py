"""Synthetic CulTwin pair rows: plumbing data for tests, benchmarks and offline demos (not for training a model)."""

from __future__ import annotations

import random

WORDS = ("steamed", "carved", "woven", "painted", "festive", "lacquered", "embroidered", "glazed", "folded", "braided")
PLACES = ("a night market", "a temple courtyard", "a family table", "a village square", "a museum shelf")


def curated_sides(num_twins: int, captions_per_concept: int) -> list[dict[str, tuple]]:
    """Real concept pairs of the curated twin list with captions composed from their fields (the
    generation pipeline's ``captions.mode: compose``): ``[{side: (concept, country, captions)}]``."""
    from importlib import resources

    from cultureclip.dataset_builder.captions import compose, compose_templates
    from cultureclip.dataset_builder.curated import load_curated

    text = (resources.files("cultureclip.dataset_builder") / "prompts" / "caption_compose.txt").read_text(
        encoding="utf-8"
    )
    templates, sides = compose_templates(text), []
    for twin in load_curated():
        try:
            pair = {
                side: (concept.concept, concept.country, compose(concept, templates, captions_per_concept, 20))
                for side, concept in (("pos", twin.pos), ("neg", twin.neg))
            }
        except ValueError:  # too few distinct captions fit for this pair
            continue
        sides.append(pair)
        if len(sides) == num_twins:
            return sides
    raise ValueError(f"Only {len(sides)} curated twin pairs give {captions_per_concept} captions per concept.")


def synthetic_pair_rows(
    num_twins: int = 3,
    captions_per_concept: int = 2,
    image_size: int = 32,
    seed: int = 0,
    shuffle: bool = False,
    curated: bool = False,
) -> list[dict]:
    """Rows in the CulTwin ``pairs`` schema, laid out like the real data.

    Each twin pair has ``captions_per_concept`` captions (and one solid-colour image per caption) on
    each side, and every positive caption is paired with every twin caption, so a twin group has
    ``captions_per_concept ** 2`` rows (100 in CulTwin). Row ``pair_id`` is ``t{twin}-{i}-{j}``;
    concepts are named ``concept {twin}`` and ``twin {twin}``, with ids ``pos-{twin}``/``neg-{twin}``.

    Args:
        num_twins: number of twin pairs.
        captions_per_concept: captions (and images) per concept.
        image_size: side of the square PIL images.
        seed: seed of the caption words and image colours.
        shuffle: shuffle the rows (as a training sampler would) instead of keeping group order.
        curated: real concept names, countries and captions (`curated_sides`) instead of made-up ones,
            so that texts have realistic lengths in tokens.
    """
    from PIL import Image

    from cultureclip.dataset_builder.records import CATEGORIES

    rng = random.Random(seed)
    real = curated_sides(num_twins, captions_per_concept) if curated else None
    rows = []
    for twin in range(num_twins):
        sides = {}
        for side in ("pos", "neg"):
            if real:
                concept, country, captions = real[twin][side]
            else:
                concept = f"{'concept' if side == 'pos' else 'twin'} {twin}"
                country = "JP" if side == "pos" else "CN"
                captions = [
                    f"A {rng.choice(WORDS)} {concept} at {rng.choice(PLACES)} with {rng.choice(WORDS)} details, view {k}"
                    for k in range(captions_per_concept)
                ]
            colours = [tuple(rng.randrange(256) for _ in range(3)) for _ in captions]
            images = [Image.new("RGB", (image_size, image_size), c) for c in colours]
            sides[side] = (concept, country, captions, images)
        for i in range(captions_per_concept):
            for j in range(captions_per_concept):
                row = {"pair_id": f"t{twin}-{i}-{j}", "twin_id": f"t{twin}", "category": twin % len(CATEGORIES)}
                for side, k in (("pos", i), ("neg", j)):
                    concept, country, captions, images = sides[side]
                    row |= {
                        f"{side}_concept_id": f"{side}-{twin}",
                        f"{side}_concept": concept,
                        f"{side}_country": country,
                        f"{side}_context": f"the cultural context of {concept}",
                        f"{side}_visual_features": f"{rng.choice(WORDS)}, {rng.choice(WORDS)}",
                        f"{side}_caption": captions[k],
                        f"{side}_image": images[k],
                        f"{side}_quality": {
                            "authenticity": 4,
                            "consistency": 4,
                            "cultural_fidelity": 4,
                            "clip_score": None,
                        },
                    }
                rows.append(row)
    if shuffle:
        rng.shuffle(rows)
    return rows


def inline_pairs_features():
    """The ``pairs`` features with the two images in the row (``pos_image``, ``neg_image``), as a
    user's own pairs or the card's expanded rows have them, instead of positions in ``concepts``."""
    from datasets import Image

    from cultureclip.dataset_builder.cultwin import pairs_features

    features = pairs_features()
    for side in ("pos", "neg"):
        del features[f"{side}_image_index"]
        features[f"{side}_image"] = Image()
    return features


def release_layout(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Split pair rows with their images (`synthetic_pair_rows`) into the release's layout.

    Returns:
        ``(pairs, concepts)``: ``pairs`` rows name their images as ``{side}_image_index`` in the
        ``images`` of their ``concepts`` row; each distinct (concept, caption) image appears once.
    """
    concepts: dict[str, dict] = {}
    pairs = []
    for row in rows:
        pair = {key: value for key, value in row.items() if not key.endswith("_image")}
        for side, other in (("pos", "neg"), ("neg", "pos")):
            concept = concepts.setdefault(
                row[f"{side}_concept_id"],
                {
                    "concept_id": row[f"{side}_concept_id"],
                    "concept": row[f"{side}_concept"],
                    "country": row[f"{side}_country"],
                    "region": "",
                    "category": row["category"],
                    "context": row[f"{side}_context"],
                    "visual_features": row[f"{side}_visual_features"],
                    "captions": [],
                    "images": [],
                    "twin_concept_id": row[f"{other}_concept_id"],
                    "twin_concept": row[f"{other}_concept"],
                },
            )
            if row[f"{side}_caption"] not in concept["captions"]:
                concept["captions"].append(row[f"{side}_caption"])
                concept["images"].append(row[f"{side}_image"])
            pair[f"{side}_image_index"] = concept["captions"].index(row[f"{side}_caption"])
        pairs.append(pair)
    return pairs, list(concepts.values())


def release_datasets(rows: list[dict]):
    """`release_layout` of ``rows`` as ``datasets.Dataset`` objects with the release's features: ``(pairs, concepts)``."""
    from datasets import Dataset

    from cultureclip.dataset_builder.cultwin import concepts_features, pairs_features

    pairs, concepts = release_layout(rows)
    return tuple(
        Dataset.from_list(records, features=features())
        for records, features in ((pairs, pairs_features), (concepts, concepts_features))
    )
