"""Results on disk (one JSON per benchmark, a summary table) and as model-card ``EvalResult``s.

Layout of an output folder::

    OUT/<benchmark>.json            the model's results
    OUT/baseline/<benchmark>.json   the baseline's results (when there is one)
    OUT/summary.json                the table: benchmark, model, baseline, delta
    OUT/plots/*.png                 see `cultureclip.evaluation.plots`
"""

from __future__ import annotations

import json
from pathlib import Path

SUMMARY = "summary.json"
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


def summarize(model: dict[str, dict], baseline: dict[str, dict] | None = None) -> list[dict]:
    """One row per benchmark: ``{"benchmark", "model", "baseline", "delta"}`` (accuracy)."""
    rows = []
    for name, result in model.items():
        other = (baseline or {}).get(name)
        row = {"benchmark": name, "model": result["accuracy"], "baseline": None, "delta": None}
        if other is not None:
            row.update(baseline=other["accuracy"], delta=result["accuracy"] - other["accuracy"])
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """The summary rows as an aligned text table (accuracy in percent)."""

    def cell(value, signed=False):
        return "-" if value is None else f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"

    lines = [("benchmark", "model", "baseline", "delta")]
    lines += [(r["benchmark"], cell(r["model"]), cell(r["baseline"]), cell(r["delta"], signed=True)) for r in rows]
    width = max(len(line[0]) for line in lines)
    return "\n".join(f"{a:<{width}}  {b:>8}  {c:>8}  {d:>8}" for a, b, c, d in lines)


def write_results(output_dir: str | Path, model: dict[str, dict], baseline: dict[str, dict] | None = None) -> dict:
    """Write every benchmark's JSON and the summary; returns ``{"summary": rows, "files": [...]}``."""
    output_dir = Path(output_dir)
    files = []
    for folder, results in ((output_dir, model), (output_dir / BASELINE_DIR, baseline or {})):
        for name, result in results.items():
            folder.mkdir(parents=True, exist_ok=True)
            files.append(folder / f"{name}.json")
            files[-1].write_text(json.dumps(result, indent=1, ensure_ascii=False))
    rows = summarize(model, baseline)
    summary = {
        "model": _model_name(model),
        "baseline": _model_name(baseline) if baseline else None,
        "rows": rows,
    }
    (output_dir / SUMMARY).write_text(json.dumps(summary, indent=1))
    return {"summary": summary, "files": [*files, output_dir / SUMMARY]}


def _model_name(results: dict[str, dict]) -> str | None:
    return next((result["model"]["name_or_path"] for result in results.values()), None)


def load_results(output_dir: str | Path) -> dict:
    """Read an output folder: ``{"model": {benchmark: result}, "baseline": {...}, "summary": {...}}``."""
    output_dir = Path(output_dir)
    if not (output_dir / SUMMARY).is_file():
        raise FileNotFoundError(f"{output_dir} has no {SUMMARY}; it is not an output folder of cultureclip evaluate.")

    summary = json.loads((output_dir / SUMMARY).read_text())
    names = [row["benchmark"] for row in summary["rows"]]  # older files in the folder are not this run's

    def read(folder: Path, names: list[str]) -> dict:
        missing = [name for name in names if not (folder / f"{name}.json").is_file()]
        if missing:
            raise FileNotFoundError(f"{folder} lacks the results {missing} that {output_dir / SUMMARY} lists.")
        return {name: json.loads((folder / f"{name}.json").read_text()) for name in names}

    return {
        "model": read(output_dir, names),
        "baseline": read(output_dir / BASELINE_DIR, names) if summary["baseline"] else {},
        "summary": summary,
    }


def to_eval_results(results) -> list:
    """`huggingface_hub.EvalResult` entries for a model card's model-index.

    Args:
        results: one result dict (from `cultureclip.evaluation.evaluate`), a list of them, a
            ``{benchmark: result}`` dict, or what `load_results` returns (its ``model`` part is used).

    Returns:
        One `EvalResult` per headline metric of each benchmark (``accuracy`` first).
    """
    from huggingface_hub import EvalResult

    if "summary" in results and "model" in results:
        results = results["model"]
    if isinstance(results, dict) and "benchmark" in results:
        results = [results]
    elif isinstance(results, dict):
        results = list(results.values())
    entries = []
    for result in results:
        name, dataset = result["benchmark"], result["dataset"]
        task = "image-text-retrieval" if name == "retrieval" else "zero-shot-image-classification"
        for metric, value in result["metrics"].items():
            entries.append(
                EvalResult(
                    task_type=task,
                    dataset_type=dataset["id"] or name,
                    dataset_name=DISPLAY_NAMES[name],
                    dataset_config=dataset["config"],
                    dataset_split=dataset["split"],
                    dataset_revision=dataset["revision"],
                    metric_type="recall" if "recall" in metric else "accuracy",
                    metric_name=metric,
                    metric_value=value,
                    metric_args={"seed": result["seed"]},
                )
            )
    return entries
