import hashlib
import os
import subprocess
import sys
import textwrap

import pytest

from cultureclip.testing import TinyModelsConfig, make_tiny_models
from cultureclip.testing.tiny_models import ClipShape, build_clip_tokenizer


def _digest(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_bytes_for_same_seed(tiny_models, tmp_path):
    again = make_tiny_models(tmp_path)
    for kind, path in tiny_models.items():
        assert _digest(path) == _digest(again[kind]), kind


def test_seed_changes_weights(tiny_models, tmp_path):
    other = make_tiny_models(tmp_path, TinyModelsConfig(seed=1), kinds=("clip",))
    assert _digest(other["clip"])["model.safetensors"] != _digest(tiny_models["clip"])["model.safetensors"]


def test_clip_tokenizer_covers_every_byte():
    tokenizer = build_clip_tokenizer(vocab_size=1024)
    text = "Jiaozi 餃子, pierogi — ünïcödé ☃ \x07 and ALL bytes"
    ids = tokenizer(text).input_ids
    # The end token (also CLIP's unknown token) appears exactly once, at the end.
    assert ids.count(tokenizer.eos_token_id) == 1 and ids[-1] == tokenizer.eos_token_id
    # CLIP decodes each end of word as a space, so compare without whitespace: no byte was lost.
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    assert "".join(decoded.split()) == "".join(text.lower().split())


def test_small_preset_is_vit_b32_shaped():
    config = TinyModelsConfig.from_preset("small")
    assert (config.clip.vision_layers, config.clip.vision_width, config.clip.text_width) == (12, 768, 512)
    assert (config.clip.image_size, config.clip.patch_size, config.clip.max_text_length) == (224, 32, 77)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"clip": ClipShape(image_size=30, patch_size=8)}, "multiple of patch_size"),
        ({"clip": ClipShape(text_width=30, text_heads=4)}, "text_width=30"),
        ({"tokenizer_vocab_size": 100}, "tokenizer_vocab_size=100"),
        ({"diffusion_image_size": 60}, "diffusion_image_size=60"),
    ],
)
def test_bad_shapes_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        TinyModelsConfig(**overrides)


def test_unknown_preset_and_kind(tmp_path):
    with pytest.raises(ValueError, match="'huge'"):
        TinyModelsConfig.from_preset("huge")
    with pytest.raises(ValueError, match="audio"):
        make_tiny_models(tmp_path, kinds=("audio",))


def test_checkpoints_load_through_standard_apis_offline(tiny_models):
    """A new process, no project code, no network: the four models run through pipelines."""
    script = textwrap.dedent(
        """
        import sys, numpy as np, torch
        from PIL import Image
        from diffusers import DiffusionPipeline
        from transformers import CLIPModel, pipeline
        clip, diffusion, llm, vlm = sys.argv[1:]
        image = Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype("uint8"))
        CLIPModel.from_pretrained(clip)
        scores = pipeline("zero-shot-image-classification", model=clip)(image, candidate_labels=["a", "b"])
        assert abs(sum(s["score"] for s in scores) - 1) < 1e-5
        pipe = DiffusionPipeline.from_pretrained(diffusion)
        out = pipe(["a red dumpling"], num_inference_steps=2, generator=torch.Generator().manual_seed(0))
        assert out.images[0].size == (64, 64)
        chat = [{"role": "user", "content": "Name a dish."}]
        assert pipeline("text-generation", model=llm)(chat, max_new_tokens=4)[0]["generated_text"]
        msg = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Hi"}]}]
        assert pipeline("image-text-to-text", model=vlm)(text=msg, max_new_tokens=4)[0]["generated_text"]
        print("ALL-LOADED")
        """
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH="")
    paths = [str(tiny_models[k]) for k in ("clip", "diffusion", "llm", "vlm")]
    result = subprocess.run(
        [sys.executable, "-c", script, *paths], capture_output=True, text=True, env=env, cwd="/", timeout=300
    )
    assert "ALL-LOADED" in result.stdout, result.stderr[-3000:]
