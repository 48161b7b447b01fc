"""The TwinWorld datasets of one experiment, all built through the project's own code.

- ``train``: the CulTwin ``pairs`` train split of a TwinWorld run folder, built by the real
  builder (`cultureclip.dataset_builder.build_release`); the test split's twin pairs are held out.
- ``seen``: new renders of the train split's twin pairs (a second run folder, another stream).
- ``unseen``: the test split: twin pairs never trained on (their kinds and cultures were, in
  other combinations), so only a model that learnt each culture's mark can tell them apart.
- ``zeroshot``: new renders labelled with their kind and colour: the general task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .render import Difficulty
from .run_folder import write_run_folder
from .samples import draw_sample
from .world import COLOURS, KINDS


@dataclass
class WorldData:
    train: object
    """The release's ``pairs`` train split (its images are in ``train_concepts``)."""
    train_concepts: object
    seen: dict
    """`evaluate` arguments of the ``cultwin`` benchmark on the seen twins: the held-out release folder
    and its ``train`` split (the benchmark reads that split's ``concepts`` and ``pairs``)."""
    unseen: dict
    """The same for the unseen twins: the training release folder and its ``test`` split."""
    zeroshot: object
    """``datasets.Dataset`` with ``image``, ``kind`` and ``colour`` (both ``ClassLabel``)."""


@dataclass(frozen=True)
class DataConfig:
    """Sizes of the TwinWorld datasets.

    Args:
        images_per_concept: training captions (and images, and pairs) per concept.
        heldout_per_concept: new renders per concept for the ``seen`` evaluation.
        test_twins: twin pairs held out as the test split (out of 32).
        zeroshot_images: images of the general task.
        seed: seed of the renders and of the split.
    """

    images_per_concept: int = 24
    heldout_per_concept: int = 8
    test_twins: int = 8
    zeroshot_images: int = 480
    seed: int = 0

    def __post_init__(self):
        for name in ("images_per_concept", "heldout_per_concept", "test_twins", "zeroshot_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1.")


def _release(run_dir: Path, out_dir: Path, config: DataConfig) -> None:
    from cultureclip.dataset_builder import ReleaseConfig, build_release

    build_release(
        run_dir,
        out_dir,
        ReleaseConfig(
            seed=config.seed,
            validation_size=0,
            test_size=config.test_twins,
            pretty_name="TwinWorld CulTwin",
            repo_id="cultureclip/twinworld-cultwin",
        ),
    )


def zeroshot_dataset(config: DataConfig, difficulty: Difficulty):
    """New renders of random concepts, labelled with kind and colour."""
    from datasets import ClassLabel, Dataset, Features, Image

    samples = [draw_sample(config.seed, "zeroshot", i, difficulty) for i in range(config.zeroshot_images)]
    features = Features(
        {
            "image": Image(),
            "kind": ClassLabel(names=[k.name for k in KINDS]),
            "colour": ClassLabel(names=list(COLOURS)),
        }
    )
    return Dataset.from_dict(
        {
            "image": [s.image(difficulty) for s in samples],
            "kind": [s.concept.kind.name for s in samples],
            "colour": [s.colour for s in samples],
        },
        features=features,
    )


def build_world_data(out_dir: str | Path, config: DataConfig, difficulty: Difficulty) -> WorldData:
    """Write both run folders, build both releases with the real builder, render the general task."""
    out_dir = Path(out_dir)
    train_run = write_run_folder(out_dir / "run", config.seed, config.images_per_concept, difficulty, "finetune")
    heldout_run = write_run_folder(
        out_dir / "heldout-run", config.seed, config.heldout_per_concept, difficulty, "heldout"
    )
    _release(train_run, out_dir / "cultwin", config)
    _release(heldout_run, out_dir / "cultwin-heldout", config)
    return open_world_data(out_dir, config, difficulty)


def open_world_data(out_dir: str | Path, config: DataConfig, difficulty: Difficulty) -> WorldData:
    """The datasets of an ``out_dir`` that `build_world_data` wrote (the general task is rendered again)."""
    from datasets import load_dataset

    release = str(Path(out_dir) / "cultwin")
    return WorldData(
        train=load_dataset(release, "pairs", split="train"),
        train_concepts=load_dataset(release, "concepts", split="train"),
        seen={"dataset": str(Path(out_dir) / "cultwin-heldout"), "split": "train"},
        unseen={"dataset": release, "split": "test"},
        zeroshot=zeroshot_dataset(config, difficulty),
    )
