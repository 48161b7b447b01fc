"""``cultureclip make-tiny-models DIR --preset paper``: random-weight replicas of the paper's checkpoints.

The folders have the default preset's names (``clip``, ``diffusion``, ``llm``, ``vlm``), so every
``${models_dir}`` config runs on either preset; each holds a ``replica.json`` naming the checkpoint it
mirrors and what differs. ``llm`` and ``vlm`` are the same Qwen2.5-VL replica: the paper uses one VLM
for every language step.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .replica_qwen import make_qwen_replica
from .replica_sd3 import make_sd3_replica
from .tiny_models import KINDS


def _clip_replica(out_dir: Path, seed: int) -> Path:
    from .replica_clip import make_clip_replica

    return make_clip_replica(out_dir, seed=seed)


BUILDERS = {"clip": _clip_replica, "diffusion": make_sd3_replica, "llm": make_qwen_replica, "vlm": make_qwen_replica}


def make_paper_replicas(out_dir: str | Path, kinds: tuple[str, ...] = KINDS, seed: int = 0) -> dict[str, Path]:
    """Builds the requested replicas under ``out_dir/<kind>`` and returns their folders.

    A kind whose replica another kind already built (``llm`` and ``vlm``) is a copy of that folder.
    """
    unknown = sorted(set(kinds) - set(BUILDERS))
    if unknown:
        raise ValueError(f"Unknown model kind(s) {unknown}; choose from {list(KINDS)}.")
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    built: dict = {}
    for kind in kinds:
        builder = BUILDERS[kind]
        if builder in built:
            paths[kind] = Path(shutil.copytree(built[builder], out_dir / kind, dirs_exist_ok=True))
        else:
            paths[kind] = built[builder] = builder(out_dir / kind, seed=seed)
    mirrors = {kind: json.loads((path / "replica.json").read_text())["mirrors"] for kind, path in paths.items()}
    record = {
        "preset": "paper",
        "seed": seed,
        "note": "random weights: plumbing models, no quality",
        "mirrors": mirrors,
    }
    (out_dir / "tiny_models.json").write_text(json.dumps(record, indent=2) + "\n")
    return paths
