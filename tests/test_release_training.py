"""Training on a release whose pairs name their images in ``concepts``: each image decoded once, into the pixel cache."""

import json
from pathlib import Path

import pytest
import torch
from cultwin_fixtures import pair_rows, write_run
from datasets import Image, List
from transformers import CLIPProcessor

from cultureclip.cli import main
from cultureclip.dataset_builder.release import ReleaseConfig, build_release
from cultureclip.testing.synthetic import release_datasets
from cultureclip.trainer import DataCollatorForCulTwin
from cultureclip.trainer.collator import InvalidRowError
from cultureclip.trainer.data import check_pairs
from cultureclip.trainer.images import ConceptImages

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def processor(tiny_models):
    return CLIPProcessor.from_pretrained(tiny_models["clip"])


@pytest.mark.parametrize("cached", [True, False])
def test_release_pairs_collate_like_pairs_with_images(processor, cached, tmp_path):
    rows = pair_rows(num_twins=3, captions_per_concept=3, shuffle=True)
    pairs, concepts = release_datasets(rows)
    images = ConceptImages(concepts)
    if cached:
        images.cache_pixels(processor.image_processor, tmp_path)
    pair_list = pairs.to_list()
    collate = DataCollatorForCulTwin(processor, images)
    expected = DataCollatorForCulTwin(processor)
    for _epoch in range(2):
        for start in range(0, len(rows), 8):
            batch, reference = (
                collate(pair_list[start : start + 8]),
                expected(rows[start : start + 8]),
            )
            assert batch.keys() == reference.keys()
            for key in batch:
                torch.testing.assert_close(batch[key], reference[key], rtol=0, atol=0)
    if cached:  # 3 twin pairs x 2 concepts x 3 images decoded once, for 27 pairs and 2 epochs
        assert images.pixels.decoded == 3 * 2 * 3 and images.decoded == 0
    else:  # each batch decodes the distinct images it uses
        assert images.decoded > 3 * 2 * 3


def test_dataloader_workers_collate_release_pairs_from_the_pixel_cache(processor, tmp_path):
    pairs, concepts = release_datasets(pair_rows(num_twins=2))
    cached = ConceptImages(concepts)
    cached.cache_pixels(processor.image_processor, tmp_path, num_workers=2)
    collators = [DataCollatorForCulTwin(processor, images) for images in (ConceptImages(concepts), cached)]
    loaders = [
        torch.utils.data.DataLoader(pairs, batch_size=4, collate_fn=collate, num_workers=n)
        for collate, n in zip(collators, (0, 2))
    ]
    for serial, parallel in zip(*loaders, strict=True):
        torch.testing.assert_close(serial["pixel_values"], parallel["pixel_values"], rtol=0, atol=0)


def test_bad_references_and_images_are_named_or_dropped(processor):
    pairs, concepts = release_datasets(pair_rows(num_twins=2))
    pairs = pairs.map(lambda row, i: {"neg_image_index": 7 if i == 1 else row["neg_image_index"]}, with_indices=True)
    concepts = concepts.cast_column("images", List(Image(decode=False)))
    broken = concepts.map(
        lambda row: (
            {"images": [{"bytes": b"not an image", "path": None}, *row["images"][1:]]}
            if row["concept_id"] == "pos-1"
            else row
        )
    )
    images = ConceptImages(broken)
    with pytest.raises(
        InvalidRowError, match=r"row 1 \(pair_id 't0-0-1'\): neg_image image index 7 of concept 'neg-0'"
    ):
        check_pairs(pairs, images=images)
    checked = check_pairs(pairs, drop_invalid_rows=True, images=images)
    # row 1, and the 2 pairs of twin 1 that use the broken first image of pos-1
    assert checked.dropped_rows == 3 and {"t0-0-1", "t1-0-0", "t1-0-1"}.isdisjoint(checked.dataset["pair_id"])
    with pytest.raises(InvalidRowError, match="neg_image image index 7"):
        DataCollatorForCulTwin(processor, images)(pairs.select([1]).to_list())
    with pytest.raises(InvalidRowError, match=r"pos_image is in the release's 'concepts' config .*ConceptImages"):
        DataCollatorForCulTwin(processor)(pairs.select([0]).to_list())


def test_train_command_reads_a_release_folder(tiny_models, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    release = tmp_path / "release"
    build_release(write_run(tmp_path / "run"), release, ReleaseConfig(validation_size=2, test_size=0))
    output_dir = tmp_path / "out"
    argv = ["train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--dataset", str(release)]
    argv += ["--base_model", str(tiny_models["clip"]), "--output_dir", str(output_dir), "--max_steps", "2"]
    argv += ["--eval_split", "validation", "--disable_tqdm", "true", "--dataloader_num_workers", "2"]
    assert main(argv) == 0
    record = json.loads((output_dir / "training_record.json").read_text())
    assert record["dataset"]["train_rows"] > 0 and "eval_twin_accuracy" in record["metrics"]
    caches = list((tmp_path / "datasets-cache").rglob("cultureclip-pixels/*/pixels.npy"))
    assert len(caches) == 1  # next to the concepts' datasets cache, as Dataset.map caches
