"""The JSON files one part of CultureCLIP writes and another reads, as typed records with a version.

=========================  ===================================  ==================================
file                       written by                           read by
=========================  ===================================  ==================================
``training_record.json``   `cultureclip.trainer.export`         `cultureclip.cards`, `cultureclip.hub`
``<benchmark>.json``       `cultureclip.evaluation.results`     cards, hub, plots, the demo
``summary.json``           `cultureclip.evaluation.results`     cards, hub, plots, the demo
``run.json``               `cultureclip.dataset_builder`        the dataset card, the release
=========================  ===================================  ==================================

Every file holds ``format_version``. A reader accepts every version up to its own (a file written
before versions existed reads as version 1) and refuses a newer or unknown one with a one-line
`SchemaError` that names the file and the version. Adding an optional field keeps the version,
so files stay readable by released readers; renaming or removing one bumps it. Keys a class does
not declare are kept in its ``extra`` and written back, so nothing is lost on a round trip.
"""

from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union

FORMAT_KEY = "format_version"

# The CultureCLIPConfig fields a training record holds (the model card shows them), plus the
# run's world size and effective batch size.
TRAINING_FIELDS = (
    "loss_type",
    "lambda_caption",
    "lambda_concept",
    "mask_duplicate_concepts",
    "mask_duplicate_captions",
    "gather_across_devices",
    "finetuning",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "lora_layers",
    "lora_towers",
    "train_logit_scale",
    "drop_invalid_rows",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "optim",
    "max_grad_norm",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "seed",
    "bf16",
    "fp16",
)
RUN_FIELDS = ("world_size", "effective_batch_size")

S = TypeVar("S", bound="Schema")


class SchemaError(ValueError):
    """A shared JSON file this version cannot read: its message names the file and the problem."""


@dataclass
class Schema:
    """A JSON object with declared fields; undeclared keys are kept in ``extra``."""

    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: declared fields in declaration order, then ``extra``."""
        data = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "extra"}
        return data | self.extra

    @classmethod
    def from_dict(cls: type[S], data: Any, source: str = "the record") -> S:
        """Builds and type-checks the record; ``source`` names it in errors (a file path).

        Raises:
            SchemaError: a required key is missing or a value has the wrong type.
        """
        return _build(cls, data, source, "")


@dataclass
class VersionedFile(Schema):
    """A whole file: `read` checks ``format_version``, `write` adds it and replaces the file atomically."""

    VERSION: ClassVar[int] = 1
    FILE: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {FORMAT_KEY: self.VERSION} | super().to_dict()

    @classmethod
    def from_dict(cls: type[S], data: Any, source: str = "the record") -> S:
        if isinstance(data, dict):
            version = data.get(FORMAT_KEY, 1)
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise SchemaError(f"{source}: unknown {FORMAT_KEY} {version!r}; it was not written by cultureclip.")
            if version > cls.VERSION:
                raise SchemaError(
                    f"{source} has {FORMAT_KEY} {version}, newer than this cultureclip reads ({cls.VERSION}); "
                    "upgrade it: pip install -U cultureclip."
                )
            data = {key: value for key, value in data.items() if key != FORMAT_KEY}
        return super().from_dict(data, source)

    @classmethod
    def read(cls: type[S], path: str | Path) -> S:
        """Reads ``path``.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            SchemaError: it is not JSON, or not a file of this kind and version.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise SchemaError(f"{path} is not valid JSON ({error}).") from None
        return cls.from_dict(data, str(path))

    def write(self, path: str | Path, indent: int = 2) -> Path:
        """Writes the record to ``path`` (a temporary file renamed over it: never a torn file)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path


# --- training_record.json ------------------------------------------------------------------------


@dataclass
class TrainingData(Schema):
    """The training data of a run. ``id``: Hub id or absolute local folder; ``revision``: the Hub
    commit read (offline: as requested); ``fingerprint``: the ``datasets`` fingerprint of the split."""

    id: str | None
    config: str | None
    split: str
    revision: str | None
    fingerprint: str | None
    train_rows: int
    eval_split: str | None = None
    dropped_rows: int = 0


@dataclass
class TrainingRecord(VersionedFile):
    """``training_record.json``: what a reader needs to reproduce a run; the model card's source.

    Args:
        base_model: Hub id or path of the fine-tuned CLIP.
        base_model_revision: the Hub commit of its weights (``None`` for a local folder).
        dataset: the training data.
        training: every field of `TRAINING_FIELDS` and `RUN_FIELDS`.
        metrics: the final train (and eval) metrics the Trainer reported.
        libraries: versions of the libraries the run used (``None``: not installed).
        exports: folder names of the merged model and (LoRA runs) the adapter.
    """

    FILE: ClassVar[str] = "training_record.json"

    base_model: str
    dataset: TrainingData
    training: dict[str, Any]
    metrics: dict[str, Any]
    libraries: dict[str, str | None]
    base_model_revision: str | None = None
    exports: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self):
        missing = [name for name in (*TRAINING_FIELDS, *RUN_FIELDS) if name not in self.training]
        if missing:
            raise SchemaError(
                f"the training record lacks training.{', training.'.join(missing)}; re-run training with this version."
            )

    def published(self, base_model_id: str, dataset_id: str) -> TrainingRecord:
        """The record as a Hub repository shows it: the base model and the data named by Hub id,
        never by the local folders the run read."""
        return replace(self, base_model=base_model_id, dataset=replace(self.dataset, id=dataset_id))


# --- evaluation: <benchmark>.json and summary.json ------------------------------------------------


@dataclass
class EvaluatedModel(Schema):
    """The model a result scored; ``fingerprint`` hashes its weights, preprocessing and vocabulary."""

    name_or_path: str | None
    fingerprint: str
    revision: str | None = None


@dataclass
class EvaluatedData(Schema):
    """The data a result was measured on (``id``: Hub id or local folder, ``None`` for data in memory)."""

    id: str | None
    config: str | None = None
    split: str | None = None
    revision: str | None = None
    fingerprint: str | None = None


@dataclass
class GroupScore(Schema):
    accuracy: float
    correct: int
    total: int


@dataclass
class BenchmarkResult(VersionedFile):
    """``<benchmark>.json``: one model's scores on one benchmark (what `cultureclip.evaluation.evaluate`
    returns). Benchmark-specific keys (``items``, ``options``, ``cache``, ...) are in ``extra``.

    Args:
        benchmark: the benchmark's name.
        accuracy, correct, total: the headline accuracy and its counts.
        metrics: every headline number, ``accuracy`` first.
        groups: group field -> group -> score.
        model: the model scored.
        dataset: the data it was measured on.
        seed: the seed of the option sampling.
    """

    benchmark: str
    accuracy: float
    correct: int
    total: int
    metrics: dict[str, float]
    model: EvaluatedModel
    dataset: EvaluatedData
    seed: int | None = None
    groups: dict[str, dict[str, GroupScore]] = field(default_factory=dict)

    @property
    def chance(self) -> float | None:
        """The accuracy of guessing: the mean of 1 / options over the questions (``None`` when the
        benchmark is not multiple choice)."""
        items = self.extra.get("items") or []
        sizes = [len(item["options"]) for item in items if isinstance(item, dict) and item.get("options")]
        if not sizes or len(sizes) != len(items):
            return None
        return sum(1 / size for size in sizes) / len(sizes)


@dataclass
class SummaryRow(Schema):
    benchmark: str
    model: float
    baseline: float | None = None
    delta: float | None = None


@dataclass
class Summary(VersionedFile):
    """``summary.json``: the model's (and the baseline's) accuracy per benchmark, in run order."""

    FILE: ClassVar[str] = "summary.json"

    model: str | None
    rows: list[SummaryRow]
    baseline: str | None = None


# --- run.json of a generation run folder --------------------------------------------------------


@dataclass
class RunRecord(VersionedFile):
    """``run.json``: how a generation run folder was made (the dataset card copies it).

    Args:
        config: the run's config (`cultureclip.dataset_builder.GenerationConfig.to_dict`, or
            another generator's own settings).
        models: role -> model id or path.
        seed: the run's base seed.
        prompts: prompt name -> the text used.
        sampling: role -> sampling settings.
        libraries: library -> version.
        summary: stage -> its counts (items in, kept, rejected by reason, failed, seconds), in
            pipeline order.
    """

    FILE: ClassVar[str] = "run.json"

    config: dict[str, Any]
    models: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    prompts: dict[str, str] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)
    libraries: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


# --- conversion ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Schema):
        return value.to_dict()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _build(cls: type[S], data: Any, source: str, where: str) -> S:
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict) and not where:
        raise SchemaError(f"{source} holds a {type(data).__name__}, expected a JSON object.")
    if not isinstance(data, dict):
        raise SchemaError(f"{source}: {where.rstrip('.')} must be a JSON object, got {_short(data)}.")
    hints = typing.get_type_hints(cls)
    declared = [f for f in fields(cls) if f.name != "extra" and f.init]
    missing = [f.name for f in declared if f.name not in data and _required(f)]
    if missing:
        raise SchemaError(f"{source} lacks {', '.join(where + name for name in missing)}.")
    values = {
        f.name: _convert(data[f.name], hints[f.name], source, where + f.name) for f in declared if f.name in data
    }
    extra = {key: value for key, value in data.items() if key not in values}
    try:
        return cls(**values, extra=extra)
    except SchemaError as error:  # a check of __post_init__, which does not know the file
        raise SchemaError(f"{source}: {error}") from None


def _required(f) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _convert(value: Any, hint: Any, source: str, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _convert(value, inner, source, where)
    if isinstance(hint, type) and issubclass(hint, Schema):
        return _build(hint, value, source, where + ".")
    if origin is dict:
        _expect(value, dict, source, where)
        return {key: _convert(item, args[1], source, f"{where}.{key}") for key, item in value.items()}
    if origin is list:
        _expect(value, list, source, where)
        return [_convert(item, args[0], source, f"{where}[{index}]") for index, item in enumerate(value)]
    _expect(value, (int, float) if hint is float else hint, source, where)
    return value


def _expect(value: Any, kind, source: str, where: str) -> None:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int, float))):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise SchemaError(f"{source}: {where} must be {names}, got {_short(value)}.")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
