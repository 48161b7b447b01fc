"""Where models run when the user does not say: this process's accelerator, in a dtype it supports."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DTYPES = ("auto", "bfloat16", "float16", "float32")


def process_state(**kwargs):
    """accelerate's ``PartialState`` of this process (``kwargs`` go to ``init_process_group`` on first use).

    ``accelerate launch --cpu`` (``ACCELERATE_USE_CPU``) makes CPU processes one group, as the
    ``Accelerator`` does; a bare ``PartialState()`` would leave each of them alone and "main".
    """
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"), **kwargs)


def default_device() -> torch.device:
    """This process's device: its own GPU under ``torchrun`` / ``accelerate launch``, else the first GPU
    (CUDA, or Apple's MPS), else the CPU."""
    return process_state().device


def launched_processes() -> int:
    """How many processes ``torchrun`` / ``accelerate launch`` started (1 for a plain process)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_dtype(name: str, device) -> torch.dtype:
    """The torch dtype ``name`` (one of `DTYPES`) stands for on ``device``.

    ``"auto"``: bfloat16 on a CUDA GPU that supports it, float16 on other GPUs, float32 on the CPU
    (half precision there is slow or unsupported).
    """
    import torch

    if name not in DTYPES:
        raise ValueError(f"dtype {name!r} is unknown; choose one of {list(DTYPES)}.")
    if name != "auto":
        return getattr(torch, name)
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32 if device.type == "cpu" else torch.float16
