"""``cultureclip train``: fine-tune CLIP on CulTwin pairs and export a plain CLIPModel.

    cultureclip train --config configs/paper_vitb32.yaml --dataset org/cultwin --output_dir runs/vitb32
    cultureclip train --config configs/tiny.yaml --dataset path/to/cultwin --max_steps 5

Options come from a YAML/JSON config (the fields of `DataArguments` and `CultureCLIPConfig`), and
any ``--field value`` on the command line overrides the file. Multi-GPU: launch the same command
with ``torchrun --nproc_per_node N -m cultureclip.cli train ...`` or ``accelerate launch``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """What `run_training` produced.

    Attributes:
        output_dir: the run folder.
        merged_dir: the plain ``CLIPModel`` + processor.
        adapter_dir: the PEFT adapter (``None`` for full fine-tuning).
        record_path: ``training_record.json``.
        metrics: the final train (and eval) metrics.
    """

    output_dir: Path
    merged_dir: Path
    adapter_dir: Path | None
    record_path: Path
    metrics: dict[str, float]


def run_training(config, data, train_dataset=None, eval_dataset=None) -> TrainingResult:
    """Train CultureCLIP end to end: load, check the rows, train, evaluate, export, record.

    Args:
        config: the `CultureCLIPConfig` (its ``output_dir`` receives everything).
        data: the `DataArguments` (base model and dataset).
        train_dataset, eval_dataset: ``datasets.Dataset`` objects in the CulTwin pairs schema to use
            instead of loading ``data.dataset`` (the record still names ``data.dataset`` if given).

    Returns:
        A `TrainingResult`. ``output_dir`` holds ``merged/``, ``adapter/`` (LoRA runs),
        ``training_record.json`` and the Trainer's checkpoints and ``trainer_state.json``.
    """
    from transformers import CLIPModel, CLIPProcessor, set_seed

    from cultureclip.dataset_builder.revisions import resolve_revision

    from .cultureclip_trainer import CultureCLIPTrainer
    from .data import check_pairs, load_split
    from .export import export_model, training_record, write_training_record
    from .run_totals import RunTotals

    if not config.output_dir:
        raise ValueError("Set output_dir (--output_dir DIR): the run writes merged/, adapter/ and its record there.")
    set_seed(config.seed)
    if train_dataset is None:
        if data.dataset:  # read (and record) the commit the revision points at now, for every split
            data = replace(data, dataset_revision=resolve_revision(data.dataset, data.dataset_revision))
        train_dataset = load_split(data, data.train_split)
    if eval_dataset is None and data.eval_split:
        eval_dataset = load_split(data, data.eval_split)
    checked = check_pairs(train_dataset, config.drop_invalid_rows)
    if len(checked.dataset) == 0:
        why = f"all {checked.dropped_rows} rows were invalid and dropped" if checked.dropped_rows else "it has no rows"
        raise ValueError(
            f"Nothing to train on: {why} (split {data.train_split!r} of {data.dataset or 'train_dataset'}); "
            "fix the data or pass another --dataset / --train_split."
        )
    if eval_dataset is not None:
        eval_dataset = check_pairs(eval_dataset, config.drop_invalid_rows).dataset

    data = replace(data, base_model_revision=resolve_revision(data.base_model, data.base_model_revision, "model"))
    processor = CLIPProcessor.from_pretrained(data.base_model, revision=data.base_model_revision)
    model = CLIPModel.from_pretrained(data.base_model, revision=data.base_model_revision)
    trainer = CultureCLIPTrainer(
        model=model,
        args=config,
        processing_class=processor,
        train_dataset=checked.dataset,
        eval_dataset=eval_dataset,
    )
    totals = RunTotals()
    trainer.add_callback(totals)
    output = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    metrics = dict(output.metrics) | totals.whole_run(output.metrics, trainer.state.global_step)
    if eval_dataset is not None:
        metrics |= trainer.evaluate()
    trainer.save_metrics("all", metrics)

    output_dir = Path(config.output_dir)
    exported = {"merged": output_dir / "merged", "adapter": None}
    record_path = output_dir / "training_record.json"
    if trainer.is_world_process_zero():
        exported = export_model(trainer.model, processor, output_dir)
        record = training_record(
            config,
            data,
            dataset_fingerprint=getattr(train_dataset, "_fingerprint", None),
            dropped_rows=checked.dropped_rows,
            train_rows=len(checked.dataset),
            metrics=metrics,
        )
        record_path = write_training_record(record, output_dir)
    trainer.accelerator.wait_for_everyone()
    return TrainingResult(output_dir, exported["merged"], exported["adapter"], record_path, metrics)


def parse_args(argv: list[str]):
    """``--config FILE`` (YAML or JSON) sets defaults; every other ``--field value`` overrides them.

    Returns:
        ``(CultureCLIPConfig, DataArguments)``.
    """
    import argparse

    from transformers import HfArgumentParser

    from .config import CultureCLIPConfig
    from .data import DataArguments

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    parser = HfArgumentParser((CultureCLIPConfig, DataArguments), prog="cultureclip train", description=__doc__)
    parser.add_argument("--config", help="YAML or JSON file of options; command-line flags override it.")
    if known.config:
        defaults = read_config_file(known.config)
        fields = {action.dest for action in parser._actions}
        unknown = sorted(set(defaults) - fields)
        if unknown:
            raise ValueError(f"{known.config}: unknown option(s) {unknown}; see 'cultureclip train --help'.")
        parser.set_defaults(**defaults)
    config, data, *_ = parser.parse_args_into_dataclasses(args=argv)
    return config, data


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The options of a ``.yaml``/``.yml``/``.json`` config file as a dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file {str(path)!r} does not exist.")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        values = json.loads(text)
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        values = yaml.safe_load(text) or {}
    else:
        raise ValueError(f"Config file {str(path)!r} must end in .yaml, .yml or .json.")
    if not isinstance(values, dict):
        raise ValueError(f"Config file {str(path)!r} must hold a mapping of option: value.")
    return values


def main(argv: list[str]) -> int:
    """Entry point of ``cultureclip train``."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    config, data = parse_args(argv)
    result = run_training(config, data)
    if config.process_index == 0:  # the process that wrote them
        print(f"merged model: {result.merged_dir}")
        if result.adapter_dir:
            print(f"adapter: {result.adapter_dir}")
        print(f"training record: {result.record_path}")
    return 0
