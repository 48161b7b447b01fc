"""Write the CulTwin release folder: Parquet shards (each image's bytes embedded once, in ``concepts``), card, preview.

::

    OUT/
      README.md                 the dataset card; its YAML ``configs:`` drive load_dataset(OUT)
      preview.png               twin pairs with their captions
      pairs/train-00000-of-00001.parquet, pairs/validation-..., pairs/test-...
      concepts/train-00000-of-00001.parquet, ...

``load_dataset(OUT)``, ``load_dataset(OUT, "concepts")`` and, once pushed to the Hub,
``load_dataset("org/cultwin")`` read it with no project code.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cultureclip import CULTWIN_REPO_ID
from cultureclip.output_dirs import atomic_output_dir, check_output_dir

from .run_data import BadImage, load_run

CONFIGS = ("pairs", "concepts")


@dataclass(frozen=True)
class ReleaseConfig:
    """How a run folder becomes a release.

    Args:
        seed: Seed of the split (by twin pair group, see `split_twins`).
        validation_size: Twin pairs in validation: a fraction in [0, 1) (at least one pair when above 0) or a count.
        test_size: Twin pairs in test: a fraction in [0, 1) (at least one pair when above 0) or a count.
        drop_bad_images: Drop (and count) the pairs that use a missing or corrupt image instead
            of refusing the run folder.
        license: The license id written into the card's metadata.
        pretty_name: The dataset's display name.
        repo_id: The Hub id the card's loading examples use.
        space_id: The Hub id of the demo Space the card links to (``None``: no link).
        max_shard_size: Largest Parquet shard, e.g. ``"500MB"``.
    """

    seed: int = 42
    validation_size: float | int = 0.05
    test_size: float | int = 0.05
    drop_bad_images: bool = False
    license: str = "cc-by-4.0"
    pretty_name: str = "CulTwin"
    repo_id: str = CULTWIN_REPO_ID
    space_id: str | None = None
    max_shard_size: str | int = "500MB"

    def __post_init__(self):
        from .cultwin import resolve_split_size

        resolve_split_size(self.validation_size, 0, "validation_size")
        resolve_split_size(self.test_size, 0, "test_size")
        if "/" not in self.repo_id:
            raise ValueError(f"repo_id={self.repo_id!r} is not a Hub id; use the form 'org/name'.")
        if self.space_id is not None and "/" not in self.space_id:
            raise ValueError(f"space_id={self.space_id!r} is not a Hub id; use the form 'org/name'.")


@dataclass
class ReleaseResult:
    output_dir: Path
    num_rows: dict[str, dict[str, int]]
    """config -> split -> rows."""
    statistics: dict
    dropped_images: list[BadImage] = field(default_factory=list)


def _write_config(builder, staging: Path, output_dir: Path, max_shard_size) -> dict[str, list[Path]]:
    """Let the builder write Parquet, then lay the shards out as ``OUT/<config>/<split>-i-of-n.parquet``."""
    prepared = staging / builder.config.name
    builder.download_and_prepare(output_dir=str(prepared), file_format="parquet", max_shard_size=max_shard_size)
    files = {}
    for split in builder.info.splits:
        shards = sorted(prepared.glob(f"*-{split}.parquet")) + sorted(prepared.glob(f"*-{split}-*-of-*.parquet"))
        target = output_dir / builder.config.name
        target.mkdir(parents=True, exist_ok=True)
        files[split] = []
        for index, shard in enumerate(shards):
            path = target / f"{split}-{index:05d}-of-{len(shards):05d}.parquet"
            shutil.move(shard, path)
            files[split].append(path)
    return files


def _card_data(infos: dict, files: dict[str, dict[str, list[Path]]], config: ReleaseConfig, num_pairs: int):
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    size = next(
        label
        for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (10**6, "100K<n<1M"))
        if num_pairs < limit or label == "100K<n<1M"
    )
    card_data = DatasetCardData(
        language="en",
        license=config.license,
        pretty_name=config.pretty_name,
        size_categories=size,
        task_categories=["zero-shot-image-classification", "image-to-text", "text-to-image"],
        tags=["culture", "synthetic", "clip", "hard-negatives", "contrastive-learning"],
        configs=[
            {
                "config_name": name,
                **({"default": True} if name == "pairs" else {}),
                "data_files": [{"split": split, "path": f"{name}/{split}-*.parquet"} for split in files[name]],
            }
            for name in CONFIGS
        ],
    )
    for name, info in infos.items():  # the Parquet files users download; datasets leaves it 0 here
        info.download_size = sum(path.stat().st_size for paths in files[name].values() for path in paths)
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    return card_data


def build_release(
    run_dir: str | Path, output_dir: str | Path, config: ReleaseConfig | None = None, overwrite: bool = False
) -> ReleaseResult:
    """Build the CulTwin release folder from a generation run folder.

    The release is built in a temporary sibling folder and renamed to ``output_dir`` as the last
    step (`cultureclip.output_dirs.atomic_output_dir`): a killed build leaves no folder that loads.

    Args:
        run_dir: A generation run folder (see `cultureclip.dataset_builder.records`).
        output_dir: A new or empty folder for the release.
        config: Split, filtering and card settings (default `ReleaseConfig()`).
        overwrite: Replace ``output_dir`` if it is a release cultureclip built.

    Raises:
        RunFolderError: The run folder is incomplete or has missing or corrupt images (unless
            ``config.drop_bad_images``).
        UserError: ``output_dir`` is not empty (and not ours to replace), or is or holds ``run_dir``.
    """
    config = config or ReleaseConfig()
    output_dir = Path(output_dir)
    target = {"overwrite": overwrite, "inputs": {"the run folder": run_dir}}
    check_output_dir(output_dir, **target)
    with (
        load_run(run_dir, drop_bad_images=config.drop_bad_images) as run,
        atomic_output_dir(output_dir, **target) as staged,
    ):
        files, infos, statistics = _write_release(run, staged, config)
    return ReleaseResult(
        output_dir=output_dir,
        num_rows={name: {split: infos[name].splits[split].num_examples for split in files[name]} for name in CONFIGS},
        statistics=statistics,
        dropped_images=run.dropped_images,
    )


def _write_release(run, output_dir: Path, config: ReleaseConfig):
    from .card import PREVIEW_IMAGE, preview_grid, preview_rows, release_statistics, render_card
    from .cultwin import CulTwin

    files, infos = {}, {}
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".build-") as staging:
        for name in CONFIGS:
            builder = CulTwin(
                config_name=name,
                data_dir=str(run.run_dir),
                cache_dir=str(Path(staging) / "cache"),
                run=run,
                seed=config.seed,
                validation_size=config.validation_size,
                test_size=config.test_size,
                drop_bad_images=config.drop_bad_images,
            )
            files[name] = _write_config(builder, Path(staging), output_dir, config.max_shard_size)
            infos[name] = builder.info
    statistics = release_statistics(files["pairs"], run)
    preview_split = "test" if "test" in files["pairs"] else "train"
    preview = preview_rows(files["pairs"][preview_split], files["concepts"][preview_split])
    preview_grid(preview, output_dir / PREVIEW_IMAGE)
    card = render_card(
        _card_data(infos, files, config, statistics["pairs"]),
        statistics,
        run.run_record,
        pretty_name=config.pretty_name,
        repo_id=config.repo_id,
        space_id=config.space_id,
    )
    card.save(output_dir / "README.md")
    return files, infos, statistics
