"""The GPU check: every figure the paper's models need from one device, in one command.

    python -m benchmarks.device_check                          # all sections, CUDA when present
    python -m benchmarks.device_check --sections train,evaluate --output device_check.json
    python -m benchmarks.device_check --device cpu --batch-size 4 --steps 1 --warmup 0 --items 40 \
        --image-size 32 --resolution 64 --diffusion-steps 1 --images 2 --prompts 2 --max-new-tokens 2
                                                               # every section, tiny, on CPU

Sections (each prints its figures; all of them go to the JSON file):

* ``train``: the training step on the ViT-B/32 replica of ``openai/clip-vit-base-patch32`` (bf16
  autocast, batch 128) against the public code's step: samples/s and peak memory
  (`benchmarks.train_step`).
* ``evaluate``: GlobalRG-Retrieval, our batched evaluation against the per-question loop
  (`benchmarks.evaluate`).
* ``diffusion``: images/s and peak memory of the Stable Diffusion 3.5 replica at 512 px and 4 steps,
  float16 on a GPU (`benchmarks.generate.diffusion_throughput`).
* ``vlm``: generated tokens/s and peak memory of the Qwen2.5-VL replica, bfloat16 on a GPU, the
  captions prompt in one batch (`benchmarks.generate.vlm_throughput`).

The models are random-weight replicas built on the spot (``cultureclip make-tiny-models DIR --preset
paper``), or taken from ``--models-dir``; ``--clip`` replaces the CLIP replica. On one H200 the
defaults take well under 8 minutes. A failing section is recorded with its error and the others
still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

SECTIONS = ("train", "evaluate", "diffusion", "vlm")


@dataclass(frozen=True)
class CheckConfig:
    """What the check measures, and at which sizes; the defaults are the GPU run's."""

    device: str = "auto"
    sections: tuple[str, ...] = SECTIONS
    output: str = "device_check.json"
    models_dir: str | None = None
    clip: str | None = None
    batch_size: int = 128
    steps: int = 10
    warmup: int = 2
    items: int = 500
    image_size: int = 256
    eval_batch_size: int = 256
    resolution: int = 512
    diffusion_steps: int = 4
    images: int = 8
    prompts: int = 8
    max_new_tokens: int = 64

    def __post_init__(self):
        unknown = [name for name in self.sections if name not in SECTIONS]
        if unknown or not self.sections:
            raise ValueError(f"--sections {','.join(self.sections)!r}: choose among {','.join(SECTIONS)}.")
        sizes = ("batch_size", "steps", "items", "image_size", "eval_batch_size", "resolution", "diffusion_steps")
        for name in (*sizes, "images", "prompts", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}.")
        if self.warmup < 0:
            raise ValueError(f"--warmup must be 0 or more, got {self.warmup}.")


def resolve_device(device: str) -> str:
    """``auto`` is CUDA when present, else the CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class Models:
    """The replica folders: ``--models-dir`` or ``--clip`` when given, else each kind built once, when first
    needed, in ``scratch`` (as ``make-tiny-models --preset paper`` builds it)."""

    def __init__(self, config: CheckConfig, scratch: Path):
        self.config, self.scratch = config, scratch

    def path(self, kind: str) -> str:
        if kind == "clip" and self.config.clip:
            return self.config.clip
        if self.config.models_dir:
            return str(Path(self.config.models_dir) / kind)
        folder = self.scratch / kind
        if not folder.exists():
            from cultureclip.testing.replicas import make_paper_replicas

            make_paper_replicas(self.scratch, (kind,))
        return str(folder)


def train_section(config: CheckConfig, device: str, models: Models) -> dict:
    from benchmarks.train_step import compare_train_steps, print_train_steps

    result = compare_train_steps(
        models.path("clip"), device, config.batch_size, config.steps, config.warmup, bf16=True
    )
    print_train_steps(result)
    return result


def evaluate_section(config: CheckConfig, device: str, models: Models) -> dict:
    from benchmarks.evaluate import compare_evaluation, print_evaluation

    result = compare_evaluation(models.path("clip"), device, config.items, config.image_size, config.eval_batch_size)
    print_evaluation(result)
    return result


def diffusion_section(config: CheckConfig, device: str, models: Models) -> dict:
    from benchmarks.generate import diffusion_throughput

    result = diffusion_throughput(
        models.path("diffusion"), device, config.resolution, config.diffusion_steps, config.images
    )
    print(f"diffusion: {result}")
    return result


def vlm_section(config: CheckConfig, device: str, models: Models) -> dict:
    from benchmarks.generate import vlm_throughput

    result = vlm_throughput(models.path("vlm"), device, config.max_new_tokens, config.prompts)
    print(f"vlm: {result}")
    return result


RUNNERS = {"train": train_section, "evaluate": evaluate_section, "diffusion": diffusion_section, "vlm": vlm_section}


def environment(device: str) -> dict:
    import torch
    import transformers

    info = {"device": device, "python": platform.python_version(), "torch": torch.__version__}
    info["transformers"] = transformers.__version__
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def run_check(config: CheckConfig) -> dict:
    """Runs the selected sections and writes their figures to ``config.output``.

    Returns:
        ``{"config", "environment", "sections": {name: figures}, "errors": {name: message}, "seconds"}``.
    """
    device = resolve_device(config.device)
    report = {"config": asdict(config), "environment": environment(device), "sections": {}, "errors": {}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        models = Models(config, Path(scratch))
        for name in config.sections:
            print(f"== {name} ==", flush=True)
            section_start = time.perf_counter()
            try:
                report["sections"][name] = RUNNERS[name](config, device, models)
            except Exception as error:  # one broken section must not cost the figures of the others
                traceback.print_exc()
                report["errors"][name] = f"{type(error).__name__}: {error}"
            print(f"({name}: {time.perf_counter() - section_start:.1f} s)", flush=True)
    report["seconds"] = time.perf_counter() - start
    Path(config.output).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"figures written to {config.output} ({report['seconds']:.1f} s)")
    return report


# The size options of each section: (CheckConfig field, help).
SECTION_OPTIONS = {
    "train": (
        ("batch_size", "training rows per step"),
        ("steps", "timed training steps per method"),
        ("warmup", "untimed training steps per method first"),
    ),
    "evaluate": (
        ("items", "GlobalRG-Retrieval rows"),
        ("image_size", "GlobalRG-Retrieval image size in pixels"),
        ("eval_batch_size", "our evaluation's batch size"),
    ),
    "diffusion": (
        ("resolution", "image size in pixels"),
        ("diffusion_steps", "denoising steps per image"),
        ("images", "images timed, in batches of 8"),
    ),
    "vlm": (
        ("prompts", "captions prompts, in one batch"),
        ("max_new_tokens", "tokens generated per prompt"),
    ),
}


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and each option's default."""


def parse_args(argv: list[str] | None) -> CheckConfig:
    defaults = CheckConfig()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.device_check", description=__doc__, formatter_class=_HelpFormatter
    )
    parser.add_argument("--device", default=defaults.device, help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    parser.add_argument("--output", default=defaults.output, help="the JSON file of the figures")
    unset = {"default": argparse.SUPPRESS}  # None: the help says what happens instead
    parser.add_argument(
        "--models-dir", **unset, help="a `make-tiny-models --preset paper` folder (default: the replicas, built here)"
    )
    parser.add_argument("--clip", **unset, help="a CLIP folder for train and evaluate (default: the ViT-B/32 replica)")
    for section, options in SECTION_OPTIONS.items():
        group = parser.add_argument_group(f"{section} section")
        for name, help_text in options:
            flag = f"--{name.replace('_', '-')}"
            group.add_argument(flag, type=int, default=getattr(defaults, name), help=help_text)
    args = vars(parser.parse_args(argv))
    args["sections"] = tuple(name.strip() for name in args["sections"].split(",") if name.strip())
    try:
        return CheckConfig(**args)
    except ValueError as error:
        parser.error(str(error))


def main(argv: list[str] | None = None) -> int:
    report = run_check(parse_args(argv))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
