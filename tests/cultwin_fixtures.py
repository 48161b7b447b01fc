"""Small in-memory CulTwin ``pairs`` datasets for the training tests."""

from __future__ import annotations

import random

from dataset_builder.records import CATEGORIES


def pair_rows(num_twins: int = 3, captions_per_concept: int = 2, image_size: int = 32, seed: int = 0) -> list[dict]:
    """Rows in the CulTwin pairs schema: every positive caption x every twin caption of each twin pair."""
    from PIL import Image

    rng = random.Random(seed)
    rows = []
    for twin in range(num_twins):
        sides = {}
        for side in ("pos", "neg"):
            name = f"{'concept' if side == 'pos' else 'twin'} {twin}"
            captions = [f"a {name} made by hand, view {k}" for k in range(captions_per_concept)]
            colours = [tuple(rng.randrange(256) for _ in range(3)) for _ in captions]
            images = [Image.new("RGB", (image_size, image_size), colour) for colour in colours]
            sides[side] = (name, captions, images)
        for i in range(captions_per_concept):
            for j in range(captions_per_concept):
                row = {
                    "pair_id": f"t{twin}-{i}-{j}",
                    "twin_id": f"t{twin}",
                    "category": twin % len(CATEGORIES),
                }
                for side, k in (("pos", i), ("neg", j)):
                    name, captions, images = sides[side]
                    row |= {
                        f"{side}_concept_id": f"{side}-{twin}",
                        f"{side}_concept": name,
                        f"{side}_country": "JP" if side == "pos" else "CN",
                        f"{side}_context": f"context of {name}",
                        f"{side}_visual_features": "round, red",
                        f"{side}_caption": captions[k],
                        f"{side}_image": images[k],
                        f"{side}_quality": {"authenticity": 4, "consistency": 4, "cultural_fidelity": 4},
                    }
                rows.append(row)
    return rows


def pairs_dataset(rows: list[dict] | None = None, **kwargs):
    """A ``datasets.Dataset`` with the CulTwin pairs features (images as ``datasets.Image``)."""
    from datasets import ClassLabel, Dataset, Features, Image, Value

    rows = pair_rows(**kwargs) if rows is None else rows
    quality = {name: Value("int32") for name in ("authenticity", "consistency", "cultural_fidelity")}
    features = {"pair_id": Value("string"), "twin_id": Value("string"), "category": ClassLabel(names=list(CATEGORIES))}
    for side in ("pos", "neg"):
        features |= {f"{side}_concept_id": Value("string")}
        features |= {
            f"{side}_{name}": Value("string")
            for name in ("concept", "country", "context", "visual_features", "caption")
        }
        features |= {f"{side}_image": Image(), f"{side}_quality": quality}
    columns = {name: [row[name] for row in rows] for name in features}
    return Dataset.from_dict(columns, features=Features(features))
