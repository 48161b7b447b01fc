"""``cultureclip train``: fine-tune CLIP on CulTwin pairs and export a plain CLIPModel.

    cultureclip train --config configs/paper_vitb32.yaml --dataset org/cultwin --output-dir runs/vitb32
    cultureclip train --config configs/tiny.yaml --dataset path/to/cultwin --max-steps 5 --set lora_r=8

Options come from a YAML/JSON config (the fields of `DataArguments` and `CultureCLIPConfig`),
``--set field=value`` overrides the file, and any ``--field value`` flag overrides both. Multi-GPU: launch the same command
with ``torchrun --nproc_per_node N -m cultureclip.cli train ...`` or ``accelerate launch``.
"""

from __future__ import annotations

import json
import logging
import tempfile
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


def run_training(config, data, train_dataset=None, eval_dataset=None, concepts=None) -> TrainingResult:
    """Train CultureCLIP end to end: load, check the rows, train, evaluate, export, record.

    Args:
        config: the `CultureCLIPConfig` (its ``output_dir`` receives everything).
        data: the `DataArguments` (base model and dataset).
        train_dataset, eval_dataset: ``datasets.Dataset`` objects in the CulTwin pairs schema to use
            instead of loading ``data.dataset`` (the record still names ``data.dataset`` if given).
        concepts: the ``concepts`` rows that release ``pairs`` rows in ``train_dataset`` and
            ``eval_dataset`` name their images in (all their splits in one ``datasets.Dataset``).

    Returns:
        A `TrainingResult`. ``output_dir`` holds ``merged/``, ``adapter/`` (LoRA runs),
        ``training_record.json`` and the Trainer's checkpoints and ``trainer_state.json``.
    """
    from transformers import CLIPModel, CLIPProcessor, set_seed

    from cultureclip.dataset_builder.revisions import resolve_revision

    from .collator import DataCollatorForCulTwin
    from .cultureclip_trainer import CultureCLIPTrainer
    from .data import check_pairs, concept_images, load_split
    from .export import export_model, training_record, write_training_record
    from .run_totals import RunTotals

    if not config.output_dir:
        raise ValueError("Set output_dir (--output_dir DIR): the run writes merged/, adapter/ and its record there.")
    set_seed(config.seed)
    concept_splits = [concepts]
    if train_dataset is None:
        if data.dataset:  # read (and record) the commit the revision points at now, for every split
            data = replace(data, dataset_revision=resolve_revision(data.dataset, data.dataset_revision))
        train_dataset, train_concepts = load_split(data, data.train_split)
        concept_splits.append(train_concepts)
    if eval_dataset is None and data.eval_split:
        eval_dataset, eval_concepts = load_split(data, data.eval_split)
        concept_splits.append(eval_concepts)
    images = concept_images([c for c in concept_splits if c is not None], train_dataset, eval_dataset)
    data = replace(data, base_model_revision=resolve_revision(data.base_model, data.base_model_revision, "model"))
    processor = CLIPProcessor.from_pretrained(data.base_model, revision=data.base_model_revision)
    temporary = cache_pixels(images, processor.image_processor, config)
    checked = check_pairs(train_dataset, config.drop_invalid_rows, images)
    if len(checked.dataset) == 0:
        why = f"all {checked.dropped_rows} rows were invalid and dropped" if checked.dropped_rows else "it has no rows"
        raise ValueError(
            f"Nothing to train on: {why} (split {data.train_split!r} of {data.dataset or 'train_dataset'}); "
            "fix the data or pass another --dataset / --train_split."
        )
    if eval_dataset is not None:
        eval_dataset = check_pairs(eval_dataset, config.drop_invalid_rows, images).dataset

    model = CLIPModel.from_pretrained(data.base_model, revision=data.base_model_revision)
    trainer = CultureCLIPTrainer(
        model=model,
        args=config,
        processing_class=processor,
        train_dataset=checked.dataset,
        eval_dataset=eval_dataset,
        data_collator=DataCollatorForCulTwin(processor, images),
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
    if temporary is not None:
        temporary.cleanup()
    return TrainingResult(output_dir, exported["merged"], exported["adapter"], record_path, metrics)


def cache_pixels(images, image_processor, config) -> tempfile.TemporaryDirectory | None:
    """Decode and preprocess every image of ``images`` once (`ConceptImages.cache_pixels`), with the loader's workers.

    Returns:
        The temporary folder holding the cache of in-memory concepts when ``config.pixel_cache_dir`` is
        unset (remove it after training), else ``None``.
    """
    from .pixel_cache import default_cache_root

    if images is None:
        return None
    temporary, root = None, config.pixel_cache_dir
    if root is None and default_cache_root(images) is None:
        temporary = tempfile.TemporaryDirectory(prefix="cultureclip-pixels-")
        root = temporary.name
    images.cache_pixels(image_processor, root, config.dataloader_num_workers)
    return temporary


# The TrainingArguments fields `cultureclip train --help` shows; --help-all shows the rest.
COMMON_TRAINER_FIELDS = (
    "output_dir",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "weight_decay",
    "warmup_steps",
    "lr_scheduler_type",
    "bf16",
    "fp16",
    "logging_steps",
    "eval_strategy",
    "eval_steps",
    "save_steps",
    "save_total_limit",
    "resume_from_checkpoint",
    "report_to",
    "dataloader_num_workers",
    "seed",
)
EXAMPLES = """examples:
  cultureclip train --config configs/paper_vitb32.yaml --dataset org/cultwin --output-dir runs/vitb32
  cultureclip train --config configs/tiny.yaml --dataset releases/cultwin --max-steps 5 --set lora_r=8
  torchrun --nproc_per_node 8 -m cultureclip.cli train --config configs/paper_vitb32.yaml ...

Options come from --config (YAML or JSON), then --set KEY=VALUE, then --field value flags (each
overrides the one before). Flags take dashes or underscores (--output-dir = --output_dir).
Every other transformers TrainingArguments field is accepted too: see 'cultureclip train --help-all'
or https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments."""


def _parser():
    from transformers import HfArgumentParser

    from cultureclip.cli_args import one_line_error

    from .config import CultureCLIPConfig
    from .data import DataArguments

    class Parser(HfArgumentParser):
        def error(self, message: str):
            one_line_error(self.prog, message)

    parser = Parser((CultureCLIPConfig, DataArguments), prog="cultureclip train", add_help=False)
    parser.add_argument("--config", help="YAML or JSON file of options; --set and flags override it.")
    return parser


def short_help(parser) -> str:
    """``--help``: the project's own options and the common TrainingArguments, one style (dashes)."""
    import re
    from dataclasses import fields

    from transformers import TrainingArguments

    from cultureclip.cli_args import ArgumentParser, add_set_option

    trainer_fields = {f.name for f in fields(TrainingArguments)}
    display = ArgumentParser(
        prog="cultureclip train",
        usage="cultureclip train [--config FILE] [--set KEY=VALUE] [--option VALUE ...]",
        description="Fine-tune CLIP on CulTwin pairs (twin-aware loss, LoRA) and export a plain CLIPModel.",
        epilog=EXAMPLES,
        add_help=False,
    )
    display.add_argument("-h", "--help", action="store_true", help="show this help")
    display.add_argument("--help-all", action="store_true", help="also list every TrainingArguments option")
    display.add_argument("--config", metavar="FILE", help="YAML or JSON file of options")
    add_set_option(display, "lora_r=8")
    groups = {
        "data and model": display.add_argument_group("data and model"),
        "cultureclip": display.add_argument_group("CultureCLIP (loss, LoRA)"),
        "trainer": display.add_argument_group("common TrainingArguments"),
    }
    from .data import DataArguments

    data_fields = {f.name for f in fields(DataArguments)}
    shown = set()
    for action in parser._actions:
        name = action.dest
        if name in data_fields:
            group = groups["data and model"]
        elif name not in trainer_fields:
            group = groups["cultureclip"] if name != "config" else None
        elif name in COMMON_TRAINER_FIELDS:
            group = groups["trainer"]
        else:
            group = None
        if group is None or not action.option_strings or name in shown:  # --no_x: the same field as --x
            continue
        shown.add(name)
        help_ = re.sub(r"\s*\(default[^)]*\)\.?", "", action.help or "").strip()
        boolean = action.nargs == "?" and action.const is True
        group.add_argument(
            "--" + name.replace("_", "-"),
            metavar="{true,false}" if boolean else name.upper(),
            default=action.default,
            help=help_,
        )
    return display.format_help()


def parse_args(argv: list[str]):
    """``--config FILE`` (YAML or JSON) sets defaults, ``--set KEY=VALUE`` overrides them, and every
    other ``--field value`` overrides both.

    Returns:
        ``(CultureCLIPConfig, DataArguments)``.
    """
    import argparse

    from cultureclip.cli_args import parse_assignments

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--set", dest="overrides", action="append", default=[])
    pre.add_argument("-h", "--help", action="store_true")
    pre.add_argument("--help-all", "--help_all", action="store_true")
    known, rest = pre.parse_known_args(argv)
    parser = _parser()
    if known.help_all:
        parser.print_help()
        raise SystemExit(0)
    defaults = read_config_file(known.config) if known.config else {}
    defaults |= {key.replace("-", "_"): value for key, value in parse_assignments(known.overrides).items()}
    fields = {action.dest for action in parser._actions}
    unknown = sorted(set(defaults) - fields)
    if unknown:
        where = f"{known.config} or --set" if known.config else "--set"
        raise ValueError(f"{where}: unknown option(s) {unknown}; see 'cultureclip train --help-all'.")
    parser.set_defaults(**_typed_by_the_parser(parser, defaults))
    if known.help:
        print(short_help(parser))
        raise SystemExit(0)
    config, data, *_ = parser.parse_args_into_dataclasses(args=rest)
    return config, data


def _typed_by_the_parser(parser, values: dict[str, Any]) -> dict[str, Any]:
    """Config-file and --set scalars go through each option's own type, as if given as flags (argparse
    converts only string defaults): ``lora_r: 4.5`` or ``learning_rate: high`` fail as a flag would,
    and a number where text is expected (``base_model: 42``) is refused, not turned into text."""
    types = {}
    for action in parser._actions:  # the first action of a field: --x, not its --no_x
        types.setdefault(action.dest, action.type)
    typed = {}
    for name, value in values.items():
        if isinstance(value, bool | int | float):
            if types[name] in (None, str):
                raise ValueError(f'{name}={value!r} must be text; quote it ("{value}") if that is what you mean.')
            value = str(value)
        typed[name] = value
    return typed


def check_inputs(config, data) -> None:
    """Fails before any model loads: a missing local base model or dataset, (offline) a Hub id
    that is not in the cache, or an output folder that is not a training run cultureclip started."""
    from cultureclip.output_dirs import check_output_dir, owned
    from cultureclip.references import check_reference

    from .export import ADAPTER_DIR, MERGED_DIR

    if not config.output_dir:
        raise ValueError("Set output_dir (--output-dir DIR): the run writes merged/, adapter/ and its record there.")
    check_reference(data.base_model, "--base-model")
    if data.dataset:
        check_reference(data.dataset, "--dataset", "dataset")
    output_dir = Path(config.output_dir)
    if not owned(output_dir):
        check_output_dir(output_dir, inputs={"--dataset": data.dataset, "--base-model": data.base_model})
    for name in (MERGED_DIR, ADAPTER_DIR):  # the exports are replaced at the end: only ours may be
        check_output_dir(output_dir / name, overwrite=True, option="the export folder")


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
    from cultureclip.output_dirs import mark

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    config, data = parse_args(argv)
    check_inputs(config, data)
    mark(config.output_dir)
    result = run_training(config, data)
    if config.process_index == 0:  # the process that wrote them
        print(f"merged model: {result.merged_dir}")
        if result.adapter_dir:
            print(f"adapter: {result.adapter_dir}")
        print(f"training record: {result.record_path}")
    return 0
