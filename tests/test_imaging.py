"""cultureclip.imaging: images decoded as `datasets` and the CLIP processor decode them, one image check."""

import io

import numpy as np
import pytest
import torch
from eval_datasets import CASES, rgba_png
from PIL import Image

from cultureclip.imaging import decode_image, image_problem


def _datasets_decoded(data: bytes):
    from datasets import Image as ImageFeature

    return ImageFeature().decode_example({"bytes": data, "path": None})


@pytest.fixture(scope="module")
def clip(tiny_models):
    from transformers import CLIPModel, CLIPProcessor

    return CLIPModel.from_pretrained(tiny_models["clip"]).eval(), CLIPProcessor.from_pretrained(tiny_models["clip"])


@pytest.mark.parametrize("name", CASES)
def test_decoded_pixels_are_what_datasets_and_the_processor_give(name, clip):
    _, processor = clip
    data = CASES[name]()
    reference = processor.image_processor(images=_datasets_decoded(data), return_tensors="pt")["pixel_values"]
    ours = processor.image_processor(images=decode_image(data), return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(ours, reference, rtol=0, atol=0)
    if name != "palette-png-with-transparency":  # PIL's convert("RGB") keeps a palette's transparency key
        with Image.open(io.BytesIO(data)) as plain:  # what the project did before: the case is not trivial
            naive = processor.image_processor(images=plain.convert("RGB"), return_tensors="pt")["pixel_values"]
        assert not torch.equal(naive, reference)


@pytest.mark.parametrize("name", CASES)
def test_evaluation_and_training_features_equal_the_processor_on_the_datasets_image(name, clip):
    from cultureclip.evaluation.cache import EmbeddingStore
    from cultureclip.evaluation.encoder import ClipEncoder, EncodingStats
    from cultureclip.trainer.collator import DataCollatorForCulTwin

    model, processor = clip
    data = CASES[name]()
    with torch.no_grad():
        pixels = processor.image_processor(images=_datasets_decoded(data), return_tensors="pt")["pixel_values"]
        reference = torch.nn.functional.normalize(model.get_image_features(pixel_values=pixels).pooler_output, dim=-1)

    store = EmbeddingStore()
    ClipEncoder(model, processor).encode_images(["key"], {"key": data}.__getitem__, store, EncodingStats())
    torch.testing.assert_close(store.images["key"], reference[0])

    row = {"pos_image": {"bytes": data, "path": None}, "neg_image": {"bytes": data, "path": None}}
    row |= {"pos_caption": "a", "neg_caption": "b", "pos_concept": "c", "neg_concept": "d"}
    batch = DataCollatorForCulTwin(processor)([row])
    torch.testing.assert_close(batch["pixel_values"], pixels.repeat(2, 1, 1, 1), rtol=0, atol=0)


def test_decode_accepts_paths_dicts_and_decoded_images(tmp_path):
    data = rgba_png()
    path = tmp_path / "image.png"
    path.write_bytes(data)
    expected = np.asarray(decode_image(data))
    for source in (path, str(path), {"bytes": None, "path": str(path)}, {"bytes": data, "path": None}):
        assert np.array_equal(np.asarray(decode_image(source)), expected)
    assert np.array_equal(np.asarray(decode_image(_datasets_decoded(data))), expected)
    assert decode_image(_datasets_decoded(data)).mode == "RGB"


def test_missing_image_is_a_problem_not_a_crash():
    assert (
        image_problem({"bytes": None, "path": None})
        == "does not decode (ValueError: the image is missing (no bytes and no path))"
    )
    assert "FileNotFoundError" in image_problem("/nonexistent/image.png")
