"""The TwinWorld experiment: pretrain a base CLIP, fine-tune it once per loss variant and seed with
the project's trainer (LoRA), and score every model with the project's evaluation code."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .data import DataConfig, WorldData, build_world_data, open_world_data
from .pretrain import PretrainConfig, pretrain
from .render import Difficulty
from .world import KINDS

DEFAULT_VARIANTS = (
    "caption_clip",
    "caption_clip_both_sides",
    "caption_negclip",
    "concept_negclip",
    "cultureclip",
    "cultureclip_nomask",
)
NOMASK = "_nomask"
"""A variant name ending in this suffix trains with both duplicate masks off (the public code's loss)."""

# Prompts of the general task, in the phrasing of the generic captions the base model learnt; a
# colour's class embedding is averaged over every kind in that colour.
KIND_TEMPLATES = ("a photo of a {}.",)
COLOUR_TEMPLATES = tuple(f"a photo of a {{}} {kind.name}." for kind in KINDS)


@dataclass(frozen=True)
class FinetuneConfig:
    """The fine-tuning every variant gets: same steps, batch, learning rate and LoRA (the paper's
    rank 4, alpha 16, dropout 0.1 on q_proj and v_proj of every layer of both towers)."""

    steps: int = 200
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_ratio: float = 0.1
    lora_r: int = 4
    lora_alpha: int = 16
    lora_dropout: float = 0.1

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 2:
            raise ValueError(f"steps={self.steps} and batch_size={self.batch_size} must be at least 1 and 2.")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything one TwinWorld run depends on (written into ``results.json``)."""

    variants: tuple[str, ...] = DEFAULT_VARIANTS
    seeds: tuple[int, ...] = (0, 1, 2)
    difficulty: Difficulty = field(default_factory=Difficulty)
    data: DataConfig = field(default_factory=DataConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def __post_init__(self):
        from cultureclip.modeling.loss import LOSS_TYPES

        for name in self.variants:
            if name.removesuffix(NOMASK) not in LOSS_TYPES:
                raise ValueError(
                    f"Unknown variant {name!r}: use a loss type ({', '.join(LOSS_TYPES)}), optionally "
                    f"with the suffix {NOMASK!r} for both duplicate masks off."
                )
        if not self.seeds:
            raise ValueError("seeds is empty: give at least one seed.")


def quick_config() -> ExperimentConfig:
    """One seed, a shorter pretraining and fine-tuning, fewer images: minutes on a laptop CPU."""
    return ExperimentConfig(
        seeds=(0,),
        data=DataConfig(images_per_concept=12, heldout_per_concept=6, zeroshot_images=240),
        pretrain=PretrainConfig(num_images=2500, steps=600),
        finetune=FinetuneConfig(steps=100),
    )


def score(model_dir: str | Path, data: WorldData) -> dict[str, float]:
    """Twin accuracy (concept and caption level) on seen and unseen twins, and the general task."""
    from cultureclip.evaluation import evaluate, load_encoder

    encoder = load_encoder(str(model_dir), batch_size=128)
    metrics = {}
    for name, twins in (("seen", data.seen), ("unseen", data.unseen)):
        result = evaluate(encoder, "cultwin", **twins, use_cache=False)
        metrics[f"twin_concept_{name}"] = result["concept_accuracy"]
        metrics[f"twin_caption_{name}"] = result["caption_accuracy"]
    for label, templates in (("kind", KIND_TEMPLATES), ("colour", COLOUR_TEMPLATES)):
        result = evaluate(
            encoder, "zeroshot", dataset=data.zeroshot, label_column=label, templates=list(templates), use_cache=False
        )
        metrics[f"zeroshot_{label}"] = result["accuracy"]
    metrics["general"] = (metrics["zeroshot_kind"] + metrics["zeroshot_colour"]) / 2
    return metrics


def finetune(base_dir: Path, out_dir: Path, data: WorldData, variant: str, seed: int, config: FinetuneConfig) -> Path:
    """One LoRA fine-tuning through `cultureclip.trainer.run_training`; returns the merged model folder."""
    from cultureclip.trainer import CultureCLIPConfig, run_training
    from cultureclip.trainer.data import DataArguments

    args = CultureCLIPConfig(
        output_dir=str(out_dir),
        loss_type=variant.removesuffix(NOMASK),
        mask_duplicate_concepts=not variant.endswith(NOMASK),
        mask_duplicate_captions=not variant.endswith(NOMASK),
        max_steps=config.steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=1,
        learning_rate=config.learning_rate,
        warmup_steps=round(config.warmup_ratio * config.steps),
        lora_r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        seed=seed,
        use_cpu=True,
        dataloader_num_workers=0,  # in-memory rows on a CPU; no worker seeds drawn from the global RNG
        report_to="none",
        save_strategy="no",
        logging_steps=max(1, config.steps // 5),
        disable_tqdm=True,
    )
    base = DataArguments(base_model=str(base_dir))
    return run_training(args, base, train_dataset=data.train, concepts=data.train_concepts).merged_dir


def run_experiment(
    out_dir: str | Path, config: ExperimentConfig, base_dir: str | Path | None = None, log=print
) -> dict:
    """The whole experiment; writes ``results.json`` and returns its content.

    Args:
        out_dir: a new or empty folder for the data, the models and the results.
        config: what to run.
        base_dir: an already pretrained base CLIP to reuse (skips pretraining).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    start = time.perf_counter()
    data = build_world_data(out_dir / "data", config.data, config.difficulty)
    timings["data"] = time.perf_counter() - start
    log(f"data: {len(data.train)} training pairs of {len(data.train_concepts)} concepts")

    start = time.perf_counter()
    if base_dir is None:
        base_dir = pretrain(out_dir / "base", config.pretrain, config.difficulty, log=log)
    timings["pretrain"] = time.perf_counter() - start
    base = score(base_dir, data)
    log(f"base: {_line(base)}")

    runs = []
    for variant in config.variants:
        for seed in config.seeds:
            start = time.perf_counter()
            merged = finetune(
                Path(base_dir), out_dir / "runs" / f"{variant}-seed{seed}", data, variant, seed, config.finetune
            )
            metrics = score(merged, data)
            runs.append({"variant": variant, "seed": seed, "metrics": metrics, "seconds": time.perf_counter() - start})
            log(f"{variant} seed {seed}: {_line(metrics)} ({runs[-1]['seconds']:.0f}s)")
    timings["finetune_and_score"] = sum(run["seconds"] for run in runs)
    results = {
        "config": asdict(config),
        "base_model": str(base_dir),
        "base": base,
        "runs": runs,
        "summary": summarize(runs),
        "seconds": timings,
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def rescore_experiment(out_dir: str | Path, config: ExperimentConfig, finished_dir: str | Path, log=print) -> dict:
    """Score the base and every fine-tuned model of a finished run again, training nothing.

    For a change of the evaluation code: the data, base and merged models are read from
    ``finished_dir``; ``results.json`` in ``out_dir`` keeps the finished run's config and timings
    and names the run and its command in ``rescored_from``.

    Raises:
        ValueError: ``config`` is not the one ``finished_dir`` was run with.
    """
    out_dir, finished_dir = Path(out_dir), Path(finished_dir)
    finished = json.loads((finished_dir / "results.json").read_text())
    if json.loads(json.dumps(asdict(config))) != finished["config"]:
        raise ValueError(
            f"{finished_dir} was run with another config; rescore it with the options of its command: "
            f"{finished.get('command', '(not recorded)')}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    data = open_world_data(finished_dir / "data", config.data, config.difficulty)
    base = score(finished["base_model"], data)
    log(f"base: {_line(base)}")
    runs = []
    for run in finished["runs"]:
        merged = finished_dir / "runs" / f"{run['variant']}-seed{run['seed']}" / "merged"
        runs.append({**run, "metrics": score(merged, data)})
        log(f"{run['variant']} seed {run['seed']}: {_line(runs[-1]['metrics'])}")
    results = {
        **finished,
        "base": base,
        "runs": runs,
        "summary": summarize(runs),
        "seconds": {**finished["seconds"], "rescore": time.perf_counter() - start},
        "rescored_from": {"output_dir": str(finished_dir), "command": finished.get("command")},
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def summarize(runs: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """variant -> metric -> ``{"mean", "std", "n"}`` over seeds (``std`` is the sample deviation)."""
    import statistics

    summary: dict[str, dict[str, dict[str, float]]] = {}
    for variant in dict.fromkeys(run["variant"] for run in runs):
        values = [run["metrics"] for run in runs if run["variant"] == variant]
        summary[variant] = {
            metric: {
                "mean": statistics.fmean(v[metric] for v in values),
                "std": statistics.stdev(v[metric] for v in values) if len(values) > 1 else 0.0,
                "n": len(values),
            }
            for metric in values[0]
        }
    return summary


def _line(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in metrics.items())
