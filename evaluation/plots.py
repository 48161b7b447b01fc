"""PNG plots of evaluation results: model vs baseline per benchmark, and per-group accuracy.

Every bar is labelled with its value, so a 0% bar reads "0%" and a result that does not exist
reads "n/a"; a dashed line marks the accuracy of guessing where the benchmark has one; legends sit
outside the axes; models are named by Hub id, or by their folder's name, never by a local path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cultureclip.schemas import BenchmarkResult

    from .results import EvaluationResults

MAX_GROUPS = 40
"""Per-group plots show the largest groups only, so that country-level charts stay legible."""
EXPORT_FOLDERS = ("merged", "adapter")
"""Folder names that say less than their parent's: ``runs/vitb32/merged`` is named ``vitb32``."""
MISSING = "n/a"


def model_name(name_or_path: str | None, names: dict[str, str] | None = None) -> str:
    """How a plot names a model: ``names[name_or_path]`` when given, a Hub id as it is, a local
    folder by its name (its parent's for ``merged``/``adapter``), a model passed in memory as such."""
    if name_or_path is None:
        return "a model in memory"
    if names and name_or_path in names:
        return names[name_or_path]
    path = Path(name_or_path).expanduser()
    if not (path.is_absolute() or path.exists() or name_or_path.startswith(".")):
        return name_or_path
    path = path.resolve()
    return path.parent.name if path.name in EXPORT_FOLDERS and path.parent.name else path.name


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label_bars(axes, bars, values: list[float | None], horizontal: bool) -> None:
    """Writes each bar's value next to it, or `MISSING` where there is no value."""
    for bar, value in zip(bars, values):
        text = MISSING if value is None else f"{value:.0f}%"
        if horizontal:
            y = bar.get_y() + bar.get_height() / 2
            axes.annotate(
                text, (bar.get_width(), y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=6
            )
        else:
            x = bar.get_x() + bar.get_width() / 2
            axes.annotate(
                text, (x, bar.get_height()), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7
            )


def _percent(value: float | None) -> float | None:
    return None if value is None else 100 * value


def plot_summary(results: EvaluationResults, path: str | Path, names: dict[str, str] | None = None) -> Path:
    """Bar chart of accuracy per benchmark, the model next to the baseline, with each benchmark's chance level."""
    return _save(summary_figure(results, names), path)


def summary_figure(results: EvaluationResults, names: dict[str, str] | None = None):
    """The figure `plot_summary` saves."""
    plt = _pyplot()
    summary = results.summary
    rows = summary.rows
    series = [("model", summary.model)] + ([("baseline", summary.baseline)] if results.baseline else [])
    figure, axes = plt.subplots(figsize=(max(5, 1.8 * len(rows) + 2.5), 3.8))
    width = 0.8 / len(series)
    for offset, (key, name) in enumerate(series):
        positions = [index + offset * width for index in range(len(rows))]
        values = [_percent(getattr(row, key)) for row in rows]
        bars = axes.bar(positions, [value or 0 for value in values], width, label=f"{key}: {model_name(name, names)}")
        _label_bars(axes, bars, values, horizontal=False)
    chance_label = "chance"
    for index, row in enumerate(rows):
        chance = results.model[row.benchmark].chance
        if chance is not None:
            left, right = index - width / 2, index + width * (len(series) - 0.5)
            axes.hlines(100 * chance, left, right, colors="black", linestyles="dashed", label=chance_label)
            chance_label = None  # one legend entry for every benchmark's line
    axes.set_xticks([index + width * (len(series) - 1) / 2 for index in range(len(rows))])
    axes.set_xticklabels([row.benchmark for row in rows], rotation=20, ha="right")
    axes.set_ylabel("accuracy (%)")
    axes.set_ylim(0, 105)
    axes.set_title("Accuracy per benchmark" + (": model vs baseline" if len(series) > 1 else ""))
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return figure


def plot_groups(
    result: BenchmarkResult,
    field: str,
    path: str | Path,
    baseline: BenchmarkResult | None = None,
    names: dict[str, str] | None = None,
) -> Path:
    """Horizontal bars of per-group accuracy (``result.groups[field]``), with the baseline's."""
    return _save(groups_figure(result, field, baseline, names), path)


def groups_figure(
    result: BenchmarkResult, field: str, baseline: BenchmarkResult | None = None, names: dict[str, str] | None = None
):
    """The figure `plot_groups` saves."""
    plt = _pyplot()
    groups = result.groups[field]
    shown = sorted(groups, key=lambda name: -groups[name].total)[:MAX_GROUPS][::-1]
    others = baseline.groups.get(field, {}) if baseline else {}
    figure, axes = plt.subplots(figsize=(7.5, 1.4 + 0.3 * len(shown)))
    height = 0.4 if baseline else 0.8
    values = [100 * groups[name].accuracy for name in shown]
    bars = axes.barh(range(len(shown)), values, height, label=f"model: {model_name(result.model.name_or_path, names)}")
    _label_bars(axes, bars, values, horizontal=True)
    if baseline:
        values = [_percent(others[name].accuracy) if name in others else None for name in shown]
        label = f"baseline: {model_name(baseline.model.name_or_path, names)}"
        positions = [index + height for index in range(len(shown))]
        bars = axes.barh(positions, [value or 0 for value in values], height, label=label)
        _label_bars(axes, bars, values, horizontal=True)
    if result.chance is not None:
        axes.axvline(100 * result.chance, color="black", linestyle="dashed", label="chance")
    axes.set_yticks([index + (height / 2 if baseline else 0) for index in range(len(shown))])
    axes.set_yticklabels([f"{name} (n={groups[name].total})" for name in shown], fontsize="small")
    axes.set_xlabel("accuracy (%)")
    axes.set_xlim(0, 110)
    axes.set_title(f"{result.benchmark}: accuracy by {field}")
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return figure


def write_plots(output_dir: str | Path, results: EvaluationResults, names: dict[str, str] | None = None) -> list[Path]:
    """``plots/summary.png`` and ``plots/<benchmark>-<group>.png`` for every group breakdown.

    Args:
        output_dir: the folder the ``plots/`` folder goes into.
        results: what `cultureclip.evaluation.load_results` (or ``write_results``) returns.
        names: model ``name_or_path`` -> the name the plots show (e.g. the Hub id it is published as).
    """
    output_dir = Path(output_dir)
    files = plot_files(results)
    paths = [plot_summary(results, output_dir / files[0], names)]
    for file, (name, field) in zip(files[1:], _breakdowns(results)):
        paths.append(plot_groups(results.model[name], field, output_dir / file, results.baseline.get(name), names))
    return paths


def plot_files(results: EvaluationResults) -> list[str]:
    """The files `write_plots` writes, relative to its folder: the summary first."""
    return ["plots/summary.png"] + [f"plots/{name}-{field}.png" for name, field in _breakdowns(results)]


def _breakdowns(results: EvaluationResults) -> list[tuple[str, str]]:
    return [(name, field) for name, result in results.model.items() for field in result.groups]


def _save(figure, path) -> Path:
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path
