"""The Qwen2.5-VL replica's processor without torchvision: the checkpoint's own processor class minus its
video processor gives what the standard processing gives (pixel bounds, chat template, image tokens),
and the local backend reads images with it."""

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from cultureclip.dataset_builder.backends import ChatRequest, TransformersChat
from cultureclip.dataset_builder.config import ModelConfig
from cultureclip.dataset_builder.processors import load_image_only_processor
from cultureclip.testing.replica_qwen import PREPROCESSOR_CONFIG, make_qwen_replica

IMAGE_PAD = "<|image_pad|>"


@pytest.fixture(scope="module")
def qwen_replica(tmp_path_factory):
    return make_qwen_replica(tmp_path_factory.mktemp("qwen") / "vlm")


def _image(height: int, width: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _chat(*images) -> list[dict]:
    parts = [{"type": "image", "image": image} for image in images]
    return [{"role": "user", "content": [*parts, {"type": "text", "text": "Score 餃子."}]}]


def test_the_image_only_processor_gives_the_standard_processing(qwen_replica):
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil, smart_resize

    processor = load_image_only_processor(str(qwen_replica))
    assert not hasattr(processor, "video_processor")
    assert isinstance(processor.image_processor, Qwen2VLImageProcessorPil)
    size = processor.image_processor.size
    assert (size.shortest_edge, size.longest_edge) == (3136, 12845056)  # the real min_pixels, max_pixels

    tokenizer = AutoTokenizer.from_pretrained(qwen_replica)
    images = [_image(150, 250), _image(20, 30, seed=1)]  # the second is below min_pixels: scaled up
    chat = _chat(*images)
    text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert text == tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=images, return_tensors="pt")

    expected = Qwen2VLImageProcessorPil.from_pretrained(qwen_replica)(images=images, return_tensors="pt")
    assert torch.equal(inputs["pixel_values"], expected["pixel_values"])
    bounds = {"min_pixels": PREPROCESSOR_CONFIG["min_pixels"], "max_pixels": PREPROCESSOR_CONFIG["max_pixels"]}
    sizes = [smart_resize(150, 250, **bounds), smart_resize(20, 30, **bounds)]
    grids = [[1, h // 14, w // 14] for h, w in sizes]
    assert grids == [[1, 10, 18], [1, 4, 6]]  # 140 x 252 px; 20 x 30 px scaled up to 56 x 84
    assert inputs["image_grid_thw"].tolist() == expected["image_grid_thw"].tolist() == grids
    expanded = text
    for t, h, w in grids:  # each image's pad becomes one token per 2 x 2 merged patches
        expanded = expanded.replace(IMAGE_PAD, "<|placeholder|>" * (t * h * w // 4), 1)
    expanded = expanded.replace("<|placeholder|>", IMAGE_PAD)
    assert inputs["input_ids"].tolist() == tokenizer([expanded], return_tensors="pt")["input_ids"].tolist()
    assert inputs["input_ids"].eq(151655).sum() == 45 + 6


def test_a_processor_without_a_video_processor_is_left_alone(tmp_path):
    from transformers import CLIPConfig

    CLIPConfig().save_pretrained(tmp_path)  # CLIPProcessor: image processor and tokenizer only
    assert load_image_only_processor(str(tmp_path)) is None


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="the path without torchvision")
def test_the_local_backend_reads_images_with_the_replica_without_torchvision(qwen_replica):
    config = ModelConfig(str(qwen_replica), task="image-text-to-text", dtype="float32", max_new_tokens=4, batch_size=2)
    chat = TransformersChat(config)
    assert type(chat.pipe.processor).__name__ == "Qwen2_5_VLProcessorImageOnly"
    requests = [ChatRequest(_chat(_image(150, 250)), seed=0), ChatRequest(_chat(_image(60, 90, seed=2)), seed=0)]
    answers = chat.generate(requests)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert chat.generate(requests) == answers  # seeded
