"""The pixel cache: every concept image decoded and preprocessed once, read back as the processor's exact pixel values."""

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
from cultwin_fixtures import pair_rows
from datasets import Dataset, Image, List
from eval_datasets import CASES, encoded
from transformers import CLIPImageProcessorPil

from cultureclip.testing.synthetic import release_datasets
from cultureclip.testing.tiny_models import clip_image_processor
from cultureclip.trainer import pixel_cache
from cultureclip.trainer.data import check_pairs
from cultureclip.trainer.images import ConceptImages
from cultureclip.trainer.pixel_cache import PixelCacheError

ROOT = Path(__file__).parents[1]


def _concepts(images: list[dict]) -> Dataset:
    return Dataset.from_list([{"concept_id": "c0", "images": images}]).cast_column("images", List(Image(decode=False)))


@pytest.mark.parametrize("size", [32, 224])
def test_cached_pixels_equal_the_processor_on_every_kind_of_image(size, tmp_path):
    processor = clip_image_processor(size)  # 224: the real checkpoint's preprocessing
    data = [CASES[name]() for name in CASES]
    images = ConceptImages(_concepts([{"bytes": d, "path": None} for d in data]))
    images.cache_pixels(processor, tmp_path, num_workers=0)
    assert images.pixels.stored == "uint8" and images.pixels.decoded == len(data)
    keys = [("c0", i) for i in range(len(data))]
    reference = images.pixel_values(keys, processor)  # read from the cache
    images.pixels = None
    direct = images.pixel_values(keys, processor)  # decoded and preprocessed now
    torch.testing.assert_close(reference, direct, rtol=0, atol=0)
    assert np.load(next(tmp_path.glob("*/pixels.npy"))).nbytes == len(data) * 3 * size * size  # uint8


def test_a_cache_is_built_once_and_found_by_later_runs_unless_the_processor_changes(tmp_path):
    _, concepts = release_datasets(pair_rows(num_twins=2, captions_per_concept=2))
    first = ConceptImages(concepts)
    folder = first.cache_pixels(clip_image_processor(32), tmp_path)
    assert first.pixels.decoded == 8
    again = ConceptImages(concepts)
    assert again.cache_pixels(clip_image_processor(32), tmp_path) == folder and again.pixels.decoded == 0
    other = ConceptImages(concepts)
    assert other.cache_pixels(clip_image_processor(24), tmp_path) != folder and other.pixels.decoded == 8
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == sorted(
        [folder.name, other.pixels.folder.name]
    )


def _build_in_child(args):
    concepts, root = args
    images = ConceptImages(concepts)
    images.cache_pixels(clip_image_processor(32), root)
    return images.pixels.decoded


def test_processes_that_share_a_cache_folder_build_it_once(tmp_path):
    _, concepts = release_datasets(pair_rows(num_twins=3, captions_per_concept=2))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        decoded = pool.map(_build_in_child, [(concepts, tmp_path)] * 2)
    assert sorted(decoded) == [0, 12]


def test_bad_images_are_judged_while_building_and_named_by_check_pairs(tmp_path):
    pairs, concepts = release_datasets(pair_rows(num_twins=2))
    broken = concepts.cast_column("images", List(Image(decode=False))).map(
        lambda row: (
            {"images": [{"bytes": b"not an image", "path": None}, *row["images"][1:]]}
            if row["concept_id"] == "pos-1"
            else row
        )
    )
    images = ConceptImages(broken)
    images.cache_pixels(clip_image_processor(32), tmp_path)
    position = images.position("pos-1", 0)
    assert images.pixels.problems == {position: images.pixels.problems[position]}
    assert images.pixels.problems[position].startswith("does not decode (UnidentifiedImageError")
    checked = check_pairs(pairs, drop_invalid_rows=True, images=images)
    assert checked.dropped_rows == 2 and {"t1-0-0", "t1-0-1"}.isdisjoint(checked.dataset["pair_id"])
    assert images.decoded == 0  # the verdicts came from the cache


def test_a_failed_build_leaves_no_cache_and_a_damaged_one_is_named(tmp_path, monkeypatch):
    _, concepts = release_datasets(pair_rows(num_twins=1))
    images = ConceptImages(concepts)

    def fail(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(pixel_cache, "_build", fail)
    with pytest.raises(KeyboardInterrupt):
        images.cache_pixels(clip_image_processor(32), tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
    monkeypatch.undo()

    folder = images.cache_pixels(clip_image_processor(32), tmp_path)
    (folder / "pixels.npy").write_bytes(b"truncated")
    damaged = ConceptImages(concepts)
    damaged.cache_pixels(clip_image_processor(32), tmp_path)
    with pytest.raises(PixelCacheError, match=rf"The pixel cache {folder} is damaged .*; delete the folder"):
        damaged.pixel_values([("pos-0", 0)], clip_image_processor(32))
    index = json.loads((folder / "index.json").read_text())
    (folder / "index.json").write_text(json.dumps({**index, "images": 99}))
    with pytest.raises(PixelCacheError, match=r"holds format 1 with 99 images, not format 1 with \d+; delete"):
        ConceptImages(concepts).cache_pixels(clip_image_processor(32), tmp_path)


class FloatResize(CLIPImageProcessorPil):
    """A processor that resizes to float pixels, so that no uint8 image is between its steps."""

    def resize(self, image, *args, **kwargs):
        return super().resize(image, *args, **kwargs).astype(np.float32) + 0.25


def test_a_processor_without_uint8_pixels_between_its_steps_gets_float32_pixels(tmp_path, caplog):
    processor = FloatResize(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    _, concepts = release_datasets(pair_rows(num_twins=1))
    images = ConceptImages(concepts)
    images.cache_pixels(processor, tmp_path)
    assert images.pixels.stored == "float32" and "stores float32 pixel values instead" in caplog.text
    keys = [("pos-0", 0), ("neg-0", 1)]
    cached = images.pixel_values(keys, processor)
    images.pixels = None
    direct = images.pixel_values(keys, processor)
    torch.testing.assert_close(cached, direct, rtol=0, atol=0)
    assert not torch.equal(direct, images.pixel_values(keys, clip_image_processor(32)))  # the float steps matter


def test_in_memory_concepts_need_a_folder(tmp_path):
    _, concepts = release_datasets(pair_rows(num_twins=1))
    with pytest.raises(ValueError, match="in memory .* pass one \\(CultureCLIPConfig.pixel_cache_dir"):
        ConceptImages(concepts).cache_pixels(clip_image_processor(32))


@pytest.mark.parametrize("pixel_cache_dir", [None, "pixels"])
def test_training_on_in_memory_concepts_caches_in_the_given_or_a_temporary_folder(
    tiny_models, pixel_cache_dir, tmp_path, monkeypatch
):
    import tempfile

    from cultureclip.trainer.train import parse_args, run_training

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    pairs, concepts = release_datasets(pair_rows(num_twins=2))
    argv = ["--config", str(ROOT / "configs" / "tiny.yaml"), "--base_model", str(tiny_models["clip"])]
    argv += ["--output_dir", str(tmp_path / "out"), "--max_steps", "1", "--disable_tqdm", "true"]
    if pixel_cache_dir:
        argv += ["--pixel_cache_dir", str(tmp_path / pixel_cache_dir)]
    result = run_training(*parse_args(argv), train_dataset=pairs, concepts=concepts)
    assert result.metrics["train_loss"] > 0
    assert list((tmp_path / "tmp").iterdir()) == []  # a temporary cache is removed after training
    if pixel_cache_dir:
        assert len(list((tmp_path / pixel_cache_dir).glob("*/pixels.npy"))) == 1


def test_a_processor_that_does_not_crop_to_one_size_is_refused(tmp_path):
    from eval_datasets import image

    processor = CLIPImageProcessorPil(size={"shortest_edge": 16}, do_center_crop=False)
    wide, tall = image(0).resize((40, 20)), image(1).resize((20, 40))
    rows = [
        {"concept_id": f"c{i}", "images": [{"bytes": encoded(picture), "path": None}]}
        for i, picture in enumerate((wide, tall))
    ]
    concepts = Dataset.from_list(rows).cast_column("images", List(Image(decode=False)))
    with pytest.raises(
        PixelCacheError, match=r"shape \(3, 32, 16\) for concept 'c1' and \(3, 16, 32\) for others; .*crop_size"
    ):
        ConceptImages(concepts).cache_pixels(processor, tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
