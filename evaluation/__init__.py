"""CultureCLIP evaluation: the paper's cultural benchmarks, CulTwin twin accuracy, zero-shot retention.

``evaluate(model, benchmark, dataset=None, processor=None, **options) -> dict`` scores one model on
one benchmark; ``cultureclip evaluate`` runs several for a model and a baseline and writes JSON,
a summary table and plots. Public names load on first use, so importing this package is instant.
"""

from cultureclip.lazy import lazy_exports

_EXPORTS = {
    "BENCHMARKS": ".benchmarks",
    "ClipEncoder": ".encoder",
    "RunOptions": ".api",
    "benchmark_options": ".api",
    "evaluate": ".api",
    "load_encoder": ".encoder",
    "load_results": ".results",
    "to_eval_results": ".results",
    "write_results": ".results",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
