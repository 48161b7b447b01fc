"""The TwinWorld results as a Markdown table (mean ± spread over seeds) and a PNG plot."""

from __future__ import annotations

from pathlib import Path

COLUMNS = {
    "twin_concept_seen": "Twin concept (seen)",
    "twin_caption_seen": "Twin caption (seen)",
    "twin_concept_unseen": "Twin concept (unseen)",
    "twin_caption_unseen": "Twin caption (unseen)",
    "zeroshot_kind": "Zero-shot kind",
    "zeroshot_colour": "Zero-shot colour",
}


def table(results: dict) -> str:
    """Accuracy in % per model: the base, then each variant as mean ± standard deviation over seeds."""
    header = "| Model | " + " | ".join(COLUMNS.values()) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    lines.append("| base CLIP | " + " | ".join(f"{100 * results['base'][m]:.1f}" for m in COLUMNS) + " |")
    for variant, metrics in results["summary"].items():
        n = next(iter(metrics.values()))["n"]
        cells = [f"{100 * metrics[m]['mean']:.1f} ± {100 * metrics[m]['std']:.1f}" for m in COLUMNS]
        lines.append(f"| {variant} (n={n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, path: str | Path) -> Path:
    """Grouped bars: each metric for the base and every variant, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    models = ["base CLIP", *results["summary"]]
    means = [[results["base"][m] for m in COLUMNS]]
    stds = [[0.0] * len(COLUMNS)]
    for metrics in results["summary"].values():
        means.append([metrics[m]["mean"] for m in COLUMNS])
        stds.append([metrics[m]["std"] for m in COLUMNS])
    x = np.arange(len(COLUMNS))
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(12, 5))
    for i, model in enumerate(models):
        ax.bar(
            x + (i - (len(models) - 1) / 2) * width,
            100 * np.array(means[i]),
            width,
            yerr=100 * np.array(stds[i]),
            label=model,
            capsize=2,
        )
    ax.axhline(50, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(x, list(COLUMNS.values()), fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("TwinWorld: twin accuracy (chance 50%) and general zero-shot accuracy")
    ax.legend(fontsize=7, ncol=len(models), loc="upper center", bbox_to_anchor=(0.5, -0.1))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
