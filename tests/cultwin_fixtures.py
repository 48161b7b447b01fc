"""Small in-memory CulTwin ``pairs`` datasets (``datasets.Dataset`` with the real features) for the tests."""

from __future__ import annotations

from trainer.synthetic import synthetic_pair_rows as pair_rows


def pairs_dataset(rows: list[dict] | None = None, **kwargs):
    """A ``datasets.Dataset`` with the CulTwin pairs features (images as ``datasets.Image``)."""
    from datasets import ClassLabel, Dataset, Features, Image, Value

    from dataset_builder.records import CATEGORIES

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
