"""CultureCLIP evaluation: the paper's cultural benchmarks, CulTwin twin accuracy, zero-shot retention.

``evaluate(model, benchmark, dataset=None, processor=None, **options) -> dict`` scores one model on
one benchmark; ``cultureclip evaluate`` runs several for a model and a baseline and writes JSON,
a summary table and plots. Heavy libraries load on first use, so importing this package is instant.
"""

from __future__ import annotations

from .api import RunOptions, benchmark_options, evaluate
from .benchmarks import BENCHMARKS
from .encoder import ClipEncoder, load_encoder
from .results import load_results, to_eval_results, write_results

__all__ = [
    "BENCHMARKS",
    "ClipEncoder",
    "RunOptions",
    "benchmark_options",
    "evaluate",
    "load_encoder",
    "load_results",
    "to_eval_results",
    "write_results",
]
