"""``cultureclip.evaluation.evaluate``: score one model on one benchmark, from a notebook, a callback or the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .benchmarks import get_benchmark
from .cache import EmbeddingStore, default_cache_dir
from .dataset_io import open_dataset, require_columns
from .encoder import ClipEncoder, load_encoder
from .scoring import Context

PROTOCOL_SEED = 42


@dataclass
class RunOptions:
    """Options every benchmark takes.

    Args:
        split: the dataset split (default: the benchmark's, ``test``).
        config: the dataset configuration (default: the benchmark's; ``concepts`` for cultwin).
        dataset_revision: Hub revision of the dataset (the results name the commit it resolved to).
        model_revision: Hub revision of the model when ``model`` is a Hub id.
        seed: seed of the protocol's random calls (the paper's 42).
        batch_size: images or texts per forward pass.
        device: where to run the model (``cpu``, ``cuda``...; default: the accelerator for a Hub id or
            path, where it is for a loaded model).
        dtype: the model's dtype (``float32``, ``float16``, ``bfloat16``, ``auto``; default: float32 for
            a Hub id or path, its own for a loaded model). Scores can move slightly in half precision.
        cache_dir: embedding cache root (default ``$CULTURECLIP_CACHE`` or ``~/.cache/cultureclip``).
        use_cache: read and write the embedding cache on disk.
        progress: show progress bars.
    """

    split: str | None = None
    config: str | None = None
    dataset_revision: str | None = None
    model_revision: str | None = None
    seed: int = PROTOCOL_SEED
    batch_size: int = 64
    device: str | None = None
    dtype: str | None = None
    cache_dir: str | Path | None = None
    use_cache: bool = True
    progress: bool = False

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size} must be at least 1.")


def benchmark_options(benchmark: str) -> dict[str, Any]:
    """The benchmark-specific options of ``benchmark`` with their defaults (column names first)."""
    spec = get_benchmark(benchmark)
    return {**spec.COLUMNS, **spec.OPTIONS}


def evaluate(model, benchmark: str, dataset=None, processor=None, **options) -> dict:
    """Score a CLIP model on one benchmark.

    Args:
        model: a Hub id or local path of a `CLIPModel`, a loaded model (pass ``processor`` too),
            or a `ClipEncoder` from `load_encoder` (reused across benchmarks).
        benchmark: one of `cultureclip.evaluation.BENCHMARKS`.
        dataset: a Hub id, a local folder, or a loaded `datasets.Dataset` (default: the
            benchmark's dataset). ``cultwin`` also reads the ``pairs`` configuration of the same
            release, at the same revision and split: give it the Hub id or the release folder.
        processor: the model's processor when ``model`` is a loaded model.
        **options: `RunOptions` fields and the benchmark's own options (see `benchmark_options`),
            e.g. ``region_column="country"`` or ``group_column="region"``.

    Raises:
        RuntimeError: called on a process other than the first of a ``torchrun`` / ``accelerate launch``
            run (each process would repeat the whole run and race on the cache files).

    Returns:
        The results, as written to ``<benchmark>.json``: ``accuracy``, ``correct``, ``total``,
        ``metrics`` (every headline number), ``groups``, ``items``, ``skipped``,
        ``unreadable_images``, ``model``, ``dataset``, ``seed``, ``cache`` and the benchmark's
        extra fields.
    """
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        raise RuntimeError(
            f"evaluate() runs on one process, and this is process {os.environ['RANK']} of a launch: call it "
            "from the first only (e.g. `if trainer.is_world_process_zero():` in a callback)."
        )
    spec = get_benchmark(benchmark)
    run_fields = {field.name for field in fields(RunOptions)}
    specific = benchmark_options(benchmark)
    unknown = sorted(set(options) - run_fields - set(specific))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for {benchmark}; it takes {sorted(specific)} and {sorted(run_fields)}."
        )
    run = RunOptions(**{name: value for name, value in options.items() if name in run_fields})
    specific.update({name: value for name, value in options.items() if name in specific})
    source = dataset if dataset is not None else spec.DATASET
    if source is None:
        raise ValueError(
            f"{benchmark} has no default dataset: pass dataset=PATH_OR_ID (on the command line "
            f"--dataset {benchmark}=PATH_OR_ID)."
        )
    if not isinstance(model, ClipEncoder):
        model = load_encoder(
            model,
            processor,
            device=run.device,
            dtype=run.dtype,
            batch_size=run.batch_size,
            revision=run.model_revision,
            progress=run.progress,
        )
    opened = open_dataset(
        source,
        split=run.split or spec.SPLIT,
        config=run.config or getattr(spec, "CONFIG", None),
        revision=run.dataset_revision,
    )
    require_columns(opened["dataset"], {name: specific[name] for name in spec.COLUMNS}, benchmark)
    cache_dir = (run.cache_dir or default_cache_dir()) if run.use_cache else None
    store = EmbeddingStore.open(cache_dir, model.fingerprint, opened["info"]["fingerprint"])
    context = Context(opened["dataset"], model, store, specific, run.seed, opened["info"])
    result = spec.run(context)
    store.save()
    metrics = {name: value for name, value in result.items() if isinstance(value, float)}
    return {
        "benchmark": benchmark,
        **result,
        "metrics": metrics,
        "options": {name: value for name, value in specific.items() if not isinstance(value, list | tuple)},
        "model": model.describe(),
        "dataset": opened["info"],
        "seed": run.seed,
        "cache": {"directory": None if store.directory is None else str(store.directory), **asdict(context.stats)},
    }
