"""The paper replicas (``make-tiny-models --preset paper``): the real checkpoints' ids, templates and
geometry at a small size, deterministic, loaded by the standard calls in a process without project code."""

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from clip_replica_fixtures import load_in_fresh_process

from cultureclip.cli import main as cli_main
from cultureclip.testing.replica_qwen import (
    FIRST_SPECIAL_ID,
    SPECIAL_TOKENS,
    VOCAB_SIZE,
    build_qwen_tokenizer,
    make_qwen_replica,
    qwen_config,
)
from cultureclip.testing.replica_sd3 import build_sd3_clip_tokenizer, build_t5_tokenizer, make_sd3_replica


def _digest(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_qwen_tokenizer_has_the_real_special_ids_and_chat_template():
    tokenizer = build_qwen_tokenizer()
    assert tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == list(range(151643, 151665))
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == ("<|im_end|>", "<|endoftext|>", None)
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Jiaozi 餃子?"}]}]
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>Jiaozi 餃子?<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = tokenizer(text).input_ids
    assert ids.count(151655) == 1 and ids[:1] == [151644]  # special tokens are never split
    assert tokenizer.decode(ids) == text  # byte-level: every character survives
    assert max(i for i in ids if i < FIRST_SPECIAL_ID) < 1024


def test_qwen_config_keeps_the_real_geometry():
    config = qwen_config()
    text, vision = config.text_config, config.vision_config
    head = text.hidden_size // text.num_attention_heads
    sections = text.rope_parameters["mrope_section"]
    assert 2 * sum(sections) == head and [s * 8 for s in sections] == [16, 24, 24]
    assert (vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size) == (14, 2, 2)
    assert vision.window_size == 112 and vision.fullatt_block_indexes == [1, 3] and vision.depth == 4
    assert vision.out_hidden_size == text.hidden_size and text.vocab_size == VOCAB_SIZE == 152064
    assert (config.image_token_id, config.video_token_id) == (151655, 151656)
    assert (config.vision_start_token_id, config.vision_end_token_id) == (151652, 151653)
    assert (text.bos_token_id, text.eos_token_id, text.pad_token_id) == (151643, 151645, 151643)
    assert config.tie_word_embeddings is False


def test_sd3_tokenizers_keep_clip_and_t5_ids():
    clip, clip_2 = build_sd3_clip_tokenizer("<|endoftext|>"), build_sd3_clip_tokenizer("!")
    ids = clip("Pierogi, crimped").input_ids
    assert ids[0] == 49406 and ids[-1] == 49407 == max(ids)  # CLIP-L pools at the largest id, the end token
    assert clip.pad_token_id == 49407 and (clip_2.pad_token, clip_2.pad_token_id) == ("!", 0)
    assert len(clip.get_vocab()) == len(clip_2.get_vocab())
    t5 = build_t5_tokenizer()
    assert (t5.pad_token_id, t5.eos_token_id, t5.unk_token_id) == (0, 1, 2)
    assert t5("Jiaozi on a plate").input_ids[-1] == 1
    assert t5.convert_tokens_to_ids("<extra_id_0>") == len(t5) - 1


@pytest.mark.slow
def test_paper_preset_folders(paper_replicas):
    assert _digest(paper_replicas["llm"]) == _digest(paper_replicas["vlm"])
    record = json.loads((paper_replicas["vlm"].parent / "tiny_models.json").read_text())
    assert record["mirrors"] == {
        "diffusion": "stabilityai/stable-diffusion-3.5-large-turbo",
        "llm": "Qwen/Qwen2.5-VL-7B-Instruct",
        "vlm": "Qwen/Qwen2.5-VL-7B-Instruct",
    }
    for kind in ("diffusion", "vlm"):
        replica = json.loads((paper_replicas[kind] / "replica.json").read_text())
        assert replica["differs"] and replica["seed"] == 0
    vlm_files = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"}
    vlm_files |= {"tokenizer_config.json", "preprocessor_config.json", "chat_template.json", "replica.json"}
    vlm_files |= {"chat_template.jinja"}  # the tokenizer's own copy, as transformers 5 saves it
    assert set(_digest(paper_replicas["vlm"])) == vlm_files
    generation = json.loads((paper_replicas["vlm"] / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [151645, 151643]
    preprocessor = json.loads((paper_replicas["vlm"] / "preprocessor_config.json").read_text())
    assert (preprocessor["min_pixels"], preprocessor["max_pixels"]) == (3136, 12845056)
    components = {p.parent.name for p in paper_replicas["diffusion"].glob("*/config.json")}
    components |= {p.parent.name for p in paper_replicas["diffusion"].glob("*/*_config.json")}
    assert components >= {"transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3", "scheduler"}
    vae = json.loads((paper_replicas["diffusion"] / "vae" / "config.json").read_text())
    assert (vae["latent_channels"], vae["scaling_factor"], vae["shift_factor"]) == (16, 1.5305, 0.0609)
    assert vae["use_quant_conv"] is vae["use_post_quant_conv"] is False
    scheduler = json.loads((paper_replicas["diffusion"] / "scheduler" / "scheduler_config.json").read_text())
    assert (scheduler["_class_name"], scheduler["shift"]) == ("FlowMatchEulerDiscreteScheduler", 3.0)


@pytest.mark.slow
def test_replicas_are_deterministic(paper_replicas, tmp_path):
    assert _digest(make_qwen_replica(tmp_path / "vlm")) == _digest(paper_replicas["vlm"])
    assert _digest(make_sd3_replica(tmp_path / "diffusion")) == _digest(paper_replicas["diffusion"])
    other = _digest(make_sd3_replica(tmp_path / "seed-1", seed=1))
    assert (
        other["transformer/diffusion_pytorch_model.safetensors"]
        != _digest(paper_replicas["diffusion"])["transformer/diffusion_pytorch_model.safetensors"]
    )


# No project code: the real checkpoints' loading calls, the vision tower on an image wider than one
# 112-pixel attention window (through the PIL image processor, since the Qwen2.5-VL processor itself
# needs torchvision) and SD3.
LOAD_SCRIPT = textwrap.dedent(
    """
    import importlib.util, sys, numpy as np, torch
    from PIL import Image
    from diffusers import DiffusionPipeline, StableDiffusion3Pipeline
    from transformers import AutoProcessor, AutoTokenizer, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    def generate_from_an_image(vlm):
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(vlm)
        tokenizer = AutoTokenizer.from_pretrained(vlm)
        image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (150, 250, 3), dtype=np.uint8))
        chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Score."}]}]
        text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        if importlib.util.find_spec("torchvision"):
            inputs = AutoProcessor.from_pretrained(vlm)(text=[text], images=[image], return_tensors="pt")
        else:
            try:
                AutoProcessor.from_pretrained(vlm)
                raise AssertionError("the Qwen2.5-VL processor loaded without torchvision")
            except ImportError as error:
                assert "torchvision" in str(error).lower()
            pixels = Qwen2VLImageProcessorPil.from_pretrained(vlm)(images=[image], return_tensors="pt")
            grid = pixels["image_grid_thw"]
            assert grid.tolist() == [[1, 10, 18]]  # 140 x 252 px: 10 x 18 patches, 2 x 3 windows of 8 x 8
            expanded = text.replace("<|image_pad|>", "<|image_pad|>" * int(grid.prod() // 4))
            inputs = dict(tokenizer([expanded], return_tensors="pt"), **pixels)
        out = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
        assert out.shape[1] == inputs["input_ids"].shape[1] + 3

    diffusion, *qwen_folders = sys.argv[1:]
    for vlm in qwen_folders:
        generate_from_an_image(vlm)
    for loader in (DiffusionPipeline, StableDiffusion3Pipeline):
        pipe = loader.from_pretrained(diffusion)
        assert type(pipe) is StableDiffusion3Pipeline
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator().manual_seed(0)
    [picture] = pipe("Jiaozi", num_inference_steps=2, guidance_scale=0.0, height=32, width=32, generator=generator).images
    assert picture.size == (32, 32)
    assert not [name for name in sys.modules if name.startswith("cultureclip")]
    print("loaded")
    """
)


def load_generation_replicas_in_fresh_process(diffusion: Path, *qwen_folders: Path) -> None:
    """Loads the SD3 replica and each Qwen2.5-VL replica folder with the standard calls in a new process."""
    command = [sys.executable, "-c", LOAD_SCRIPT, str(diffusion), *map(str, qwen_folders)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("loaded")


@pytest.mark.slow
def test_replicas_load_through_the_standard_calls_in_a_fresh_process(paper_replicas):
    load_generation_replicas_in_fresh_process(paper_replicas["diffusion"], paper_replicas["vlm"])


@pytest.mark.slow
def test_the_whole_paper_preset_through_the_cli(tmp_path, capsys):
    root = tmp_path / "models"
    assert cli_main(["make-tiny-models", str(root), "--preset", "paper"]) == 0
    printed = dict(line.split() for line in capsys.readouterr().out.splitlines())
    assert printed == {kind: str(root / kind) for kind in ("clip", "diffusion", "llm", "vlm")}
    assert json.loads((root / "tiny_models.json").read_text())["mirrors"] == {
        "clip": "openai/clip-vit-base-patch32",
        "diffusion": "stabilityai/stable-diffusion-3.5-large-turbo",
        "llm": "Qwen/Qwen2.5-VL-7B-Instruct",
        "vlm": "Qwen/Qwen2.5-VL-7B-Instruct",
    }
    load_in_fresh_process(root / "clip")
    load_generation_replicas_in_fresh_process(root / "diffusion", root / "llm", root / "vlm")
