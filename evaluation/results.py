"""Results on disk (one JSON per benchmark, a summary table) and as model-card ``EvalResult``s.

Layout of an output folder::

    OUT/<benchmark>.json            the model's results
    OUT/baseline/<benchmark>.json   the baseline's results (when there is one)
    OUT/summary.json                the table: benchmark, model, baseline, delta
    OUT/plots/*.png                 see `cultureclip.evaluation.plots`
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cultureclip.schemas import BenchmarkResult, Summary, SummaryRow

SUMMARY = Summary.FILE
BASELINE_DIR = "baseline"

# The name of each benchmark on a model card.
DISPLAY_NAMES = {
    "globalrg-retrieval": "GlobalRG-Retrieval",
    "globalrg-grounding": "GlobalRG-Grounding",
    "crope": "CROPE",
    "cultwin": "CulTwin",
    "zeroshot": "Zero-shot classification",
    "retrieval": "Image-text retrieval",
}
# Benchmarks whose headline ``accuracy`` is another of their metrics under its own name: the
# model-index lists that metric once, by its own name.
ACCURACY_IS = {"cultwin": "concept_accuracy", "retrieval": "image_to_text_recall@1"}
METRIC_DIGITS = 4


@dataclass(frozen=True)
class EvaluationResults:
    """An output folder of ``cultureclip evaluate``: the model's and the baseline's results per
    benchmark (``baseline`` is empty without a baseline) and the summary."""

    model: dict[str, BenchmarkResult]
    summary: Summary
    baseline: dict[str, BenchmarkResult] = field(default_factory=dict)


def summarize(
    model: dict[str, BenchmarkResult], baseline: dict[str, BenchmarkResult] | None = None
) -> list[SummaryRow]:
    """One row per benchmark: the model's accuracy, the baseline's and the difference."""
    rows = []
    for name, result in model.items():
        other = (baseline or {}).get(name)
        row = SummaryRow(benchmark=name, model=result.accuracy)
        if other is not None:
            row.baseline, row.delta = other.accuracy, result.accuracy - other.accuracy
        rows.append(row)
    return rows


def format_table(rows: list[SummaryRow]) -> str:
    """The summary rows as an aligned text table (accuracy in percent)."""

    def cell(value, signed=False):
        return "-" if value is None else f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"

    lines = [("benchmark", "model", "baseline", "delta")]
    lines += [(r.benchmark, cell(r.model), cell(r.baseline), cell(r.delta, signed=True)) for r in rows]
    width = max(len(line[0]) for line in lines)
    return "\n".join(f"{a:<{width}}  {b:>8}  {c:>8}  {d:>8}" for a, b, c, d in lines)


def write_results(
    output_dir: str | Path, model: dict[str, dict], baseline: dict[str, dict] | None = None
) -> EvaluationResults:
    """Write every benchmark's JSON and the summary, and return them as `load_results` reads them.

    ``model`` and ``baseline`` map benchmark names to what `cultureclip.evaluation.evaluate` returned.
    """
    output_dir = Path(output_dir)
    model = {name: BenchmarkResult.from_dict(result, f"the {name} result") for name, result in model.items()}
    baseline = {
        name: BenchmarkResult.from_dict(result, f"the baseline's {name} result")
        for name, result in (baseline or {}).items()
    }
    for folder, results in ((output_dir, model), (output_dir / BASELINE_DIR, baseline)):
        for name, result in results.items():
            folder.mkdir(parents=True, exist_ok=True)
            result.write(folder / f"{name}.json", indent=1)
    summary = Summary(
        model=_model_name(model), baseline=_model_name(baseline) if baseline else None, rows=summarize(model, baseline)
    )
    summary.write(output_dir / SUMMARY, indent=1)
    return EvaluationResults(model=model, summary=summary, baseline=baseline)


def _model_name(results: dict[str, BenchmarkResult]) -> str | None:
    return next((result.model.name_or_path for result in results.values()), None)


def load_results(output_dir: str | Path) -> EvaluationResults:
    """Read an output folder of ``cultureclip evaluate``.

    Raises:
        FileNotFoundError: the folder has no summary, or lacks a result the summary lists.
        cultureclip.schemas.SchemaError: a file is not a result of this version.
    """
    output_dir = Path(output_dir)
    if not (output_dir / SUMMARY).is_file():
        raise FileNotFoundError(f"{output_dir} has no {SUMMARY}; it is not an output folder of cultureclip evaluate.")

    summary = Summary.read(output_dir / SUMMARY)
    names = [row.benchmark for row in summary.rows]  # older files in the folder are not this run's

    def read(folder: Path, names: list[str]) -> dict[str, BenchmarkResult]:
        missing = [name for name in names if not (folder / f"{name}.json").is_file()]
        if missing:
            raise FileNotFoundError(f"{folder} lacks the results {missing} that {output_dir / SUMMARY} lists.")
        return {name: BenchmarkResult.read(folder / f"{name}.json") for name in names}

    baseline = [row.benchmark for row in summary.rows if row.baseline is not None]
    return EvaluationResults(
        model=read(output_dir, names), summary=summary, baseline=read(output_dir / BASELINE_DIR, baseline)
    )


def to_eval_results(results) -> list:
    """`huggingface_hub.EvalResult` entries for a model card's model-index.

    Args:
        results: one result (a `BenchmarkResult` or the dict `cultureclip.evaluation.evaluate`
            returns), a list of them, a ``{benchmark: result}`` dict, or `EvaluationResults` (its
            ``model`` part is used).

    Returns:
        One `EvalResult` per metric of each benchmark (``accuracy`` first; a metric that
        ``accuracy`` repeats is listed once, under its own name), rounded to `METRIC_DIGITS`.
    """
    from huggingface_hub import EvalResult

    if isinstance(results, EvaluationResults):
        results = results.model
    if isinstance(results, BenchmarkResult) or (isinstance(results, dict) and "benchmark" in results):
        results = [results]
    elif isinstance(results, dict):
        results = list(results.values())
    entries = []
    for result in map(BenchmarkResult.from_dict, results):
        name, dataset = result.benchmark, result.dataset
        task = "image-text-retrieval" if name == "retrieval" else "zero-shot-image-classification"
        for metric, value in result.metrics.items():
            if metric == "accuracy" and ACCURACY_IS.get(name) in result.metrics:
                continue
            entries.append(
                EvalResult(
                    task_type=task,
                    dataset_type=dataset.id or name,
                    dataset_name=DISPLAY_NAMES[name],
                    dataset_config=dataset.config,
                    dataset_split=dataset.split,
                    dataset_revision=dataset.revision,
                    metric_type="recall" if "recall" in metric else "accuracy",
                    metric_name=metric,
                    metric_value=round(value, METRIC_DIGITS),
                    metric_args={"seed": result.seed},
                )
            )
    return entries
