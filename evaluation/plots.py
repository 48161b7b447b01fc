"""PNG plots of evaluation results: model vs baseline per benchmark, and per-group accuracy."""

from __future__ import annotations

from pathlib import Path

MAX_GROUPS = 40
"""Per-group plots show the largest groups only, so that country-level charts stay legible."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_summary(summary: dict, path: str | Path) -> Path:
    """Bar chart of accuracy per benchmark, model next to baseline."""
    plt = _pyplot()
    rows = summary["rows"]
    series = [("model", summary["model"])] + ([("baseline", summary["baseline"])] if summary["baseline"] else [])
    figure, axes = plt.subplots(figsize=(max(4, 1.6 * len(rows)), 3.5))
    width = 0.8 / len(series)
    for offset, (key, label) in enumerate(series):
        positions = [index + offset * width for index in range(len(rows))]
        axes.bar(positions, [100 * row[key] for row in rows], width, label=label)
    axes.set_xticks([index + width * (len(series) - 1) / 2 for index in range(len(rows))])
    axes.set_xticklabels([row["benchmark"] for row in rows], rotation=20, ha="right")
    axes.set_ylabel("accuracy (%)")
    axes.set_ylim(0, 100)
    axes.legend(fontsize="small")
    return _save(figure, plt, path)


def plot_groups(
    result: dict, field: str, path: str | Path, baseline: dict | None = None, labels=("model", "baseline")
) -> Path:
    """Horizontal bars of per-group accuracy (``result["groups"][field]``), with the baseline's."""
    plt = _pyplot()
    groups = result["groups"][field]
    names = sorted(groups, key=lambda name: -groups[name]["total"])[:MAX_GROUPS][::-1]
    others = baseline["groups"][field] if baseline else {}
    figure, axes = plt.subplots(figsize=(6, 1.2 + 0.28 * len(names)))
    height = 0.4 if baseline else 0.8
    axes.barh(range(len(names)), [100 * groups[name]["accuracy"] for name in names], height, label=labels[0])
    if baseline:
        values = [100 * others[name]["accuracy"] if name in others else 0 for name in names]
        axes.barh([index + height for index in range(len(names))], values, height, label=labels[1])
    axes.set_yticks([index + (height / 2 if baseline else 0) for index in range(len(names))])
    axes.set_yticklabels([f"{name} (n={groups[name]['total']})" for name in names], fontsize="small")
    axes.set_xlabel("accuracy (%)")
    axes.set_xlim(0, 100)
    axes.set_title(f"{result['benchmark']}: accuracy by {field}")
    axes.legend(fontsize="small")
    return _save(figure, plt, path)


def write_plots(
    output_dir: str | Path, summary: dict, model: dict[str, dict], baseline: dict[str, dict]
) -> list[Path]:
    """``plots/summary.png`` and ``plots/<benchmark>-<group>.png`` for every group breakdown."""
    folder = Path(output_dir) / "plots"
    paths = [plot_summary(summary, folder / "summary.png")]
    for name, result in model.items():
        for field in result["groups"]:
            paths.append(plot_groups(result, field, folder / f"{name}-{field}.png", baseline.get(name)))
    return paths


def _save(figure, plt, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
