"""The CulTwin ``datasets`` builder: a generation run folder -> the ``pairs`` and ``concepts`` configs.

Every image is stored once, in the ``concepts`` config (one row per concept with the aligned lists
``captions`` and ``images``); a ``pairs`` row names its two images by concept and position in that
list (``pos_concept_id`` + ``pos_image_index``). The trainer looks them up
(`cultureclip.trainer.images.ConceptImages`); the dataset card's one-line ``with_transform`` puts
them into the rows for users.

``datasets`` no longer runs loading scripts, so this builder is used from the package
(``cultureclip build-dataset``, `cultureclip.dataset_builder.release.build_release`) and what is published
is Parquet. It also works directly::

    builder = CulTwin(config_name="pairs", data_dir="runs/tiny", seed=42)
    builder.download_and_prepare()
    dataset = builder.as_dataset()
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import datasets

from .records import CATEGORIES
from .run_data import RunData, load_run, run_fingerprint
from .taxonomy import country_region

SPLITS = ("train", "validation", "test")
_SIDE_FIELDS = ("concept", "country", "context", "visual_features", "caption")


def quality_features() -> dict:
    return {
        "authenticity": datasets.Value("int32"),
        "consistency": datasets.Value("int32"),
        "cultural_fidelity": datasets.Value("int32"),
        "clip_score": datasets.Value("float32"),
    }


def pairs_features() -> datasets.Features:
    """One row per caption pair: its texts, and its images as positions in the ``concepts`` rows' ``images``."""
    columns = {
        "pair_id": datasets.Value("string"),
        "twin_id": datasets.Value("string"),
        "pos_concept_id": datasets.Value("string"),
        "neg_concept_id": datasets.Value("string"),
        "category": datasets.ClassLabel(names=list(CATEGORIES)),
    }
    for side in ("pos", "neg"):
        columns |= {f"{side}_{name}": datasets.Value("string") for name in _SIDE_FIELDS}
        columns[f"{side}_image_index"] = datasets.Value("int32")
    columns["pos_quality"] = quality_features()
    columns["neg_quality"] = quality_features()
    return datasets.Features(columns)


def concepts_features() -> datasets.Features:
    """One row per concept of a released twin pair, with its kept captions and their images."""
    text = datasets.Value("string")
    return datasets.Features(
        {
            "concept_id": text,
            "concept": text,
            "country": text,
            "region": text,
            "category": datasets.ClassLabel(names=list(CATEGORIES)),
            "context": text,
            "visual_features": text,
            "captions": datasets.List(text),
            "images": datasets.List(datasets.Image()),
            "twin_concept_id": text,
            "twin_concept": text,
        }
    )


FEATURES = {"pairs": pairs_features, "concepts": concepts_features}


def resolve_split_size(size: float | int, total: int, name: str) -> int:
    """The number of twin pairs ``size`` (a fraction in [0, 1) or a count) means out of ``total``.

    A fraction above 0 means at least one pair, so a small build still gets the split it asks for.
    """
    if isinstance(size, bool) or not isinstance(size, int | float):
        raise ValueError(f"{name}={size!r}: give a fraction in [0, 1) or a whole number of twin pairs.")
    if isinstance(size, float):
        if not 0 <= size < 1:
            raise ValueError(f"{name}={size} is not a fraction in [0, 1); pass e.g. 0.1, or an integer count.")
        return max(round(size * total), 1 if size > 0 and total > 0 else 0)
    if size < 0:
        raise ValueError(f"{name}={size} is negative; pass a count >= 0 or a fraction in [0, 1).")
    return size


def split_twins(
    twin_ids: list[str],
    seed: int,
    validation_size: float | int,
    test_size: float | int,
    groups: dict[str, str] | None = None,
) -> dict[str, list[str]]:
    """Assign twin pairs to splits by group: deterministic for a seed and the set of ids (not their
    order), and twin pairs of one group (``groups[twin_id]``, default: the id itself) always in
    the same split, so near-duplicate subjects never cross splits.

    A size is a fraction of the twin pairs (float in [0, 1), rounded, at least 1 when above 0) or
    a count (int), as in scikit-learn's ``train_test_split``; a split takes whole groups in seeded
    order until it holds that many pairs, so a large group can make it a little bigger. A split of
    size 0 is left out.

    Returns:
        ``{"train": [...], "validation": [...], "test": [...]}`` (non-empty splits only).

    Raises:
        ValueError: when the requested splits would leave no group for train.
    """
    groups = groups or {}
    members: dict[str, list[str]] = {}
    for twin_id in sorted(set(twin_ids)):
        members.setdefault(groups.get(twin_id) or twin_id, []).append(twin_id)
    total = sum(len(ids) for ids in members.values())
    wanted = {
        "test": resolve_split_size(test_size, total, "test_size"),
        "validation": resolve_split_size(validation_size, total, "validation_size"),
    }
    order = sorted(members)
    random.Random(seed).shuffle(order)
    splits: dict[str, list[str]] = {name: [] for name in SPLITS}
    for name in ("test", "validation"):
        while order and len(splits[name]) < wanted[name]:
            splits[name] += members[order.pop(0)]
    if not order:
        raise ValueError(
            f"validation_size={validation_size!r} and test_size={test_size!r} take {sum(wanted.values())} of "
            f"{total} twin pairs ({len(members)} split groups) and leave none for train; make them smaller, "
            "0 to leave a split out, or build from more twin pairs."
        )
    splits["train"] = [twin_id for group in order for twin_id in members[group]]
    return {name: sorted(splits[name]) for name in SPLITS if splits[name]}


@dataclass
class CulTwinConfig(datasets.BuilderConfig):
    """A CulTwin config (``pairs`` or ``concepts``) with the split settings.

    Args:
        seed: Seed of the split (by twin pair group, see `split_twins`).
        validation_size: Twin pairs in validation: a fraction in [0, 1) (at least one pair when above 0) or a count.
        test_size: Twin pairs in test: a fraction in [0, 1) (at least one pair when above 0) or a count.
        drop_bad_images: Drop the pairs that use a missing or corrupt image instead of refusing
            the run folder.
        fingerprint: `run_fingerprint` of ``data_dir``, set by `CulTwin`: it is part of the config
            id, so the cache of a run folder whose records or images changed is not reused.
    """

    seed: int = 42
    validation_size: float | int = 0.05
    test_size: float | int = 0.05
    drop_bad_images: bool = False
    fingerprint: str | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.name not in FEATURES:
            raise ValueError(f"Unknown CulTwin config {self.name!r}: choose one of {sorted(FEATURES)}.")
        resolve_split_size(self.validation_size, 0, "validation_size")
        resolve_split_size(self.test_size, 0, "test_size")


class CulTwin(datasets.GeneratorBasedBuilder):
    """CulTwin: culturally distinct, visually similar twin concepts with captions and images.

    ``data_dir`` is a generation run folder. Splits are made by twin pair group (`Twin.split_group`),
    so a concept and its twin, and twin pairs about the same subject, are always in the same split.
    """

    BUILDER_CONFIG_CLASS = CulTwinConfig
    BUILDER_CONFIGS = [
        CulTwinConfig(name="pairs", description="One row per caption pair (positive and twin)."),
        CulTwinConfig(name="concepts", description="One row per concept, with its captions, images and twin."),
    ]
    DEFAULT_CONFIG_NAME = "pairs"

    def __init__(self, *, run: RunData | None = None, **kwargs):
        """Keyword args as for ``datasets.GeneratorBasedBuilder``; ``run`` is an already checked
        `load_run` of ``data_dir`` (so a release building both configs reads the folder once)."""
        if kwargs.get("data_dir"):
            kwargs["fingerprint"] = run_fingerprint(kwargs["data_dir"])
        super().__init__(**kwargs)
        self._run = run

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.config.description,
            features=FEATURES[self.config.name](),
            homepage="https://arxiv.org/abs/2507.06210",
        )

    def _split_generators(self, dl_manager):
        if not self.config.data_dir:
            raise ValueError("CulTwin needs data_dir=<generation run folder>.")
        run = self._run or load_run(self.config.data_dir, drop_bad_images=self.config.drop_bad_images)
        twin_ids = run.index.twin_ids()
        groups = {twin_id: run.twins[twin_id].split_group for twin_id in twin_ids}
        splits = split_twins(twin_ids, self.config.seed, self.config.validation_size, self.config.test_size, groups)
        return [
            datasets.SplitGenerator(name=name, gen_kwargs={"run": run, "twin_ids": set(ids)})
            for name, ids in splits.items()
        ]

    def _generate_examples(self, run: RunData, twin_ids: set[str]):
        rows = _pair_rows if self.config.name == "pairs" else _concept_rows
        yield from rows(run, twin_ids)


def _image(run: RunData, caption_id: str) -> dict:
    # The bytes go into the dataset itself, so the release does not depend on the run folder.
    path = run.image_path(caption_id)
    with open(path, "rb") as file:
        return {"bytes": file.read(), "path": os.path.basename(path)}


def _quality(run: RunData, caption_id: str) -> dict | None:
    score = run.scores.get(caption_id)
    if score is None:
        return None
    return {name: getattr(score, name) for name in quality_features()}


def _pair_rows(run: RunData, twin_ids: set[str]):
    for pair in run.pairs:
        if pair.twin_id not in twin_ids:
            continue
        twin = run.twins[pair.twin_id]
        row = {
            "pair_id": pair.pair_id,
            "twin_id": twin.twin_id,
            "pos_concept_id": twin.pos_concept_id,
            "neg_concept_id": twin.neg_concept_id,
            "category": twin.category,
        }
        for side, caption_id in (("pos", pair.pos_caption_id), ("neg", pair.neg_caption_id)):
            concept = run.concepts[getattr(twin, f"{side}_concept_id")]
            row |= {f"{side}_{name}": getattr(concept, name) for name in _SIDE_FIELDS[:-1]}
            row[f"{side}_caption"] = run.captions[caption_id].text
            row[f"{side}_image_index"] = run.index.image_index(caption_id)
            row[f"{side}_quality"] = _quality(run, caption_id)
        yield pair.pair_id, row


def _concept_rows(run: RunData, twin_ids: set[str]):
    for twin_id, concept_id, caption_ids in run.index.concept_captions():
        if twin_id not in twin_ids:
            continue
        concept = run.concepts[concept_id]
        pair = run.twins[twin_id]
        twin = run.concepts[pair.neg_concept_id if concept_id == pair.pos_concept_id else pair.pos_concept_id]
        yield (
            concept_id,
            {
                "concept_id": concept_id,
                "concept": concept.concept,
                "country": concept.country,
                "region": country_region(concept.country),
                "category": concept.category,
                "context": concept.context,
                "visual_features": concept.visual_features,
                "captions": [run.captions[c].text for c in caption_ids],
                "images": [_image(run, c) for c in caption_ids],
                "twin_concept_id": twin.concept_id,
                "twin_concept": twin.concept,
            },
        )
