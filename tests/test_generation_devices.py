"""Where the generation models run: this process's accelerator and a dtype it supports; launchers wait."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cultureclip import devices
from cultureclip.dataset_builder import images
from cultureclip.dataset_builder.config import DiffusionConfig, ModelConfig

ROOT = Path(__file__).parents[1]


def test_auto_dtype_is_half_precision_on_gpus_only(monkeypatch):
    assert devices.resolve_dtype("auto", "cpu") == torch.float32
    assert devices.resolve_dtype("auto", "mps") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert devices.resolve_dtype("auto", "cuda:1") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert devices.resolve_dtype("auto", "cuda") == torch.float16
    assert devices.resolve_dtype("float16", "cpu") == torch.float16  # asked for: kept
    with pytest.raises(ValueError, match=r"dtype 'half' is unknown; choose one of"):
        devices.resolve_dtype("half", "cpu")


def test_the_diffusion_pipeline_loads_in_float32_on_the_cpu_by_default(tiny_models):
    assert DiffusionConfig().dtype == "auto"
    pipe = images.load_pipeline(str(tiny_models["diffusion"]), DiffusionConfig().dtype, "cpu")
    assert pipe.unet.dtype == torch.float32 and pipe.vae.dtype == torch.float32


@pytest.mark.parametrize(("installed", "keyword"), [("0.35.2", "torch_dtype"), ("0.40.0", "dtype")])
def test_the_diffusion_dtype_goes_in_the_argument_the_installed_diffusers_reads(monkeypatch, installed, keyword):
    import importlib.metadata

    import diffusers

    calls = []

    class Stub:
        def set_progress_bar_config(self, **kwargs):
            pass

        def to(self, device):
            return self

    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda n: installed if n == "diffusers" else real_version(n))
    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", lambda model, **kw: calls.append(kw) or Stub())
    images.load_pipeline("some/model", "bfloat16", "cpu")
    assert calls == [{keyword: torch.bfloat16}]


def test_the_clip_scorer_runs_on_the_accelerator_in_inference_mode(tiny_models, monkeypatch):
    from PIL import Image

    from cultureclip.dataset_builder.quality import ClipScorer

    monkeypatch.setattr(devices, "default_device", lambda: torch.device("meta"))  # a stand-in accelerator
    assert ClipScorer(str(tiny_models["clip"])).model.device.type == "meta"

    scorer = ClipScorer(str(tiny_models["clip"]), device="cpu")
    modes = []
    scorer.model.visual_projection.register_forward_hook(lambda *args: modes.append(torch.is_inference_mode_enabled()))
    scores = scorer([Image.new("RGB", (32, 32), "red")], ["a red square"])
    assert modes and all(modes) and 0 <= scores[0] <= 100


def test_the_local_chat_model_is_loaded_on_the_process_device(monkeypatch):
    import transformers

    from cultureclip.dataset_builder.backends import TransformersChat

    calls = []

    class Stub:
        tokenizer = type("Tokenizer", (), {"padding_side": "right"})()

    monkeypatch.setattr(devices, "default_device", lambda: torch.device("cuda", 1))  # process 1 of a launch
    monkeypatch.setattr(transformers, "pipeline", lambda *args, **kwargs: calls.append(kwargs) or Stub())
    TransformersChat(ModelConfig(model="some/model", task="text-generation"))
    assert calls[0]["device_map"] == "cuda:1"


def test_launched_processes_wait_for_the_main_process_past_the_default_timeout(tiny_models, tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
               str(ROOT / "tests" / "scripts" / "generate_waits.py"), str(tiny_models["clip"].parent), str(tmp_path / "run")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("generate waits OK") == 1  # one main process: the two made one group
