"""The benchmarks: one module each, with ``DATASET``, ``SPLIT``, ``COLUMNS``, ``OPTIONS`` and ``run``.

``COLUMNS`` maps each column option to its default column name; ``OPTIONS`` holds the other
benchmark options with their defaults; ``run(context) -> dict`` scores the model.
"""

from __future__ import annotations

import importlib
from types import ModuleType

BENCHMARKS = {
    "globalrg-retrieval": "cultureclip.evaluation.benchmarks.globalrg_retrieval",
    "globalrg-grounding": "cultureclip.evaluation.benchmarks.globalrg_grounding",
    "crope": "cultureclip.evaluation.benchmarks.crope",
    "cultwin": "cultureclip.evaluation.benchmarks.cultwin",
    "zeroshot": "cultureclip.evaluation.benchmarks.zeroshot",
    "retrieval": "cultureclip.evaluation.benchmarks.retrieval",
}
"""Benchmark name -> its module."""


def get_benchmark(name: str) -> ModuleType:
    """The module of benchmark ``name``."""
    if name not in BENCHMARKS:
        raise ValueError(f"Unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}.")
    return importlib.import_module(BENCHMARKS[name])
