"""Metrics as `evaluate` modules shipped in the repository, loaded by path (they work offline).

``import evaluate`` takes seconds, so it happens on first use, and each module is loaded once per
process.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

METRICS_DIR = Path(__file__).parent


@functools.cache
def load_metric(name: str):
    """The `evaluate` module ``evaluation/metrics/<name>``, loaded once per process."""
    import evaluate

    path = METRICS_DIR / name
    if not (path / f"{name}.py").is_file():
        known = sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file())
        raise ValueError(f"Unknown metric {name!r}; the shipped metrics are {known}.")
    return evaluate.load(str(path), keep_in_memory=True)


def multiple_choice_accuracy(predictions: Sequence[int], references: Sequence[int]) -> dict:
    """``{"accuracy", "correct", "total"}`` of predicted vs correct option indices."""
    return load_metric("multiple_choice_accuracy").compute(predictions=predictions, references=references)


def recall_at_k(predictions: Sequence[Sequence[int]], references: Sequence[Sequence[int]], k=(1, 5, 10)) -> dict:
    """``{"recall@K": ..., "total"}`` of rankings (best first) vs the relevant ids of each query."""
    return load_metric("recall_at_k").compute(predictions=predictions, references=references, k=list(k))
