"""Model cards written by code: the training record and the evaluation results become the card.

`render_model_card` fills the repository's ``model_card.md`` (a Jinja template) through
`huggingface_hub.ModelCard.from_template`: the YAML metadata (``ModelCardData`` with a
``model-index`` built from the evaluation results) and every number in the text come from the
run's files, never typed by hand.

The training record and the evaluation results are read through `cultureclip.schemas`
(`TrainingRecord`, `EvaluationResults`); a missing key is an error that names it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cultureclip.evaluation import to_eval_results
from cultureclip.evaluation.results import DISPLAY_NAMES, EvaluationResults
from cultureclip.schemas import TrainingRecord

from .resources import project_file

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

TEMPLATE = "model_card.md"
PAPER_URL = "https://arxiv.org/abs/2507.06210"

# The Hub's repo id grammar: "name" or "namespace/name", letters, digits, "-", "_", ".".
_REPO_ID = re.compile(r"^(?:[\w.-]+/)?[\w.-]+$")

ADAPTER_CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ repo_id }}

The LoRA adapter of [{{ model_repo_id }}](https://huggingface.co/{{ model_repo_id }}) (CultureCLIP,
[arXiv 2507.06210]({{ paper_url }})), on top of `{{ base_model }}`. The merged model in
`{{ model_repo_id }}` is the same network as a plain `CLIPModel`; use this adapter to inspect the
low-rank update or to continue training.

```python
from peft import PeftModel
from transformers import CLIPModel

base = CLIPModel.from_pretrained("{{ base_model }}")
model = PeftModel.from_pretrained(base, "{{ repo_id }}")
```

Training details, results, limitations and citation: see the card of `{{ model_repo_id }}`.
"""


def is_repo_id(value: str) -> bool:
    """Whether ``value`` reads as a Hub repo id (``name`` or ``org/name``) rather than a local path."""
    return bool(_REPO_ID.match(value)) and not Path(value).exists()


def read_training_record(checkpoint: str | Path) -> TrainingRecord:
    """Reads ``training_record.json`` of a training output folder.

    Raises:
        FileNotFoundError: the folder has no ``training_record.json``.
        cultureclip.schemas.SchemaError: the record lacks a key, or is of a newer format.
    """
    path = Path(checkpoint) / TrainingRecord.FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: --checkpoint must be the output folder of `cultureclip train` "
            "(with merged/, adapter/ and training_record.json)."
        )
    return TrainingRecord.read(path)


def with_hub_dataset_ids(
    results: EvaluationResults, training_dataset: str, eval_dataset_ids: dict[str, str] | None = None
) -> EvaluationResults:
    """``results`` (from `cultureclip.evaluation.load_results`) with every benchmark's dataset named by a Hub id.

    A benchmark evaluated on a Hub dataset keeps its id. One evaluated on local data is named by
    ``eval_dataset_ids[benchmark]``; CulTwin, by default, by ``training_dataset`` (the Hub id of
    the CulTwin release the model was trained on).

    Raises:
        ValueError: a benchmark evaluated on local data has no Hub id, a given id is not a Hub id,
            or ``eval_dataset_ids`` names a benchmark that was not evaluated on local data.
    """
    local = {
        benchmark: result.dataset.id
        for benchmark, result in results.model.items()
        if result.dataset.id is None or not is_repo_id(result.dataset.id)
    }
    given = eval_dataset_ids or {}
    stray = sorted(set(given) - set(local))
    if stray:
        raise ValueError(
            f"--eval-dataset-id {', '.join(stray)}: the evaluation folder has no result of it measured on local "
            f"data (those are: {', '.join(local) or 'none'}); drop the option."
        )
    bad = sorted(benchmark for benchmark, value in given.items() if not is_repo_id(value))
    if bad:
        raise ValueError(f"--eval-dataset-id {bad[0]}={given[bad[0]]} is not a Hub id; give ORG/NAME.")
    ids = ({"cultwin": training_dataset} if "cultwin" in local else {}) | given
    missing = [benchmark for benchmark in local if benchmark not in ids]
    if missing:
        raise ValueError(
            "The model-index names each evaluation dataset by its Hub id, but "
            + "; ".join(
                f"{DISPLAY_NAMES[name]} was evaluated on {local[name] or 'a dataset passed in memory'}"
                for name in missing
            )
            + ". Pass "
            + " ".join(f"--eval-dataset-id {name}=ORG/NAME" for name in missing)
            + " with the Hub id of that data."
        )
    model = {
        benchmark: replace(result, dataset=replace(result.dataset, id=ids[benchmark])) if benchmark in ids else result
        for benchmark, result in results.model.items()
    }
    return replace(results, model=model)


def result_rows(results: EvaluationResults) -> list[dict[str, Any]]:
    """The rows of the card's results table, from `cultureclip.evaluation.load_results` output.

    Each row: ``benchmark`` (display name), ``dataset`` (id), ``accuracy``, ``correct``, ``total``,
    ``baseline`` and ``delta`` (``None`` when the baseline was not evaluated on it).
    """
    rows = []
    for row in results.summary.rows:
        result = results.model[row.benchmark]
        rows.append(
            {
                "benchmark": DISPLAY_NAMES[row.benchmark],
                "dataset": result.dataset.id,
                "accuracy": row.model,
                "correct": result.correct,
                "total": result.total,
                "baseline": row.baseline,
                "delta": row.delta,
            }
        )
    return rows


def render_model_card(
    record: TrainingRecord,
    repo_id: str,
    *,
    base_model_id: str | None = None,
    dataset_id: str | None = None,
    results: EvaluationResults | None = None,
    plots: list[str] = (),
    adapter_location: str | None = None,
    license: str = "apache-2.0",
    eval_dataset_ids: dict[str, str] | None = None,
    space_id: str | None = None,
    template_path: str | Path | None = None,
) -> ModelCard:
    """Renders the model card of a CultureCLIP release.

    Args:
        record: a training record, as `read_training_record` returns it.
        repo_id: the Hub id the model is published under (used in the usage snippets).
        base_model_id: Hub id of the base model, when the record names a local path.
        dataset_id: Hub id of the training dataset, when the record names a local path.
        results: evaluation results as `cultureclip.evaluation.load_results` returns them, for the results
            table and the ``model-index``.
        plots: paths of PNG plots inside the repository folder, shown under the results.
        adapter_location: where the LoRA adapter is published: ``"adapter/"`` (a subfolder of
            this repository), another repo id, or ``None`` (not published).
        license: the license identifier in the metadata.
        eval_dataset_ids: benchmark -> Hub id of the data it was evaluated on, for benchmarks
            evaluated on a local folder (see `with_hub_dataset_ids`; CulTwin defaults to the
            training dataset's id).
        space_id: Hub id of the demo Space the card links to (`cultureclip publish space`).
        template_path: the Jinja template (default: the repository's ``model_card.md``).

    Raises:
        FileNotFoundError: the template is missing.
        ValueError: the base model, the dataset or an evaluation dataset is a local path and no
            Hub id was given for it.
    """
    from huggingface_hub import ModelCard, ModelCardData

    if template_path is None:
        template_path = project_file(TEMPLATE)
    elif not Path(template_path).is_file():
        raise FileNotFoundError(f"The model card template {template_path} is missing.")
    base_model = _hub_id(base_model_id or record.base_model, "base model", "--base-model-id")
    dataset = _hub_id(dataset_id or record.dataset.id, "training dataset", "--dataset-id")
    record = record.published(base_model, dataset)
    if results:
        results = with_hub_dataset_ids(results, dataset, eval_dataset_ids)
    card_data = ModelCardData(
        model_name=repo_id.split("/")[-1],
        library_name="transformers",
        pipeline_tag="zero-shot-image-classification",
        base_model=base_model,
        datasets=[dataset],
        license=license,
        tags=["clip", "cultureclip", "culture", "vision-language", "zero-shot-image-classification"]
        + (["lora"] if record.training["finetuning"] == "lora" else []),
        eval_results=to_eval_results(results) if results else None,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(template_path),
        repo_id=repo_id,
        base_model=base_model,
        dataset_id=dataset,
        record=record,
        lora=record.training["finetuning"] == "lora",
        hyperparameters=_hyperparameters(record.training),
        libraries={name: version for name, version in record.libraries.items() if version},
        results=result_rows(results) if results else [],
        plots=list(plots),
        adapter_location=adapter_location,
        paper_url=PAPER_URL,
        space_id=space_id,
    )


def render_adapter_card(
    record: TrainingRecord, repo_id: str, model_repo_id: str, base_model_id: str | None = None
) -> ModelCard:
    """The short card of a LoRA adapter published in its own repository (``library_name: peft``)."""
    from huggingface_hub import ModelCard, ModelCardData

    base_model = _hub_id(base_model_id or record.base_model, "base model", "--base-model-id")
    card_data = ModelCardData(
        library_name="peft", base_model=base_model, tags=["clip", "cultureclip", "lora"], license=None
    )
    return ModelCard.from_template(
        card_data,
        template_str=ADAPTER_CARD_TEMPLATE,
        repo_id=repo_id,
        model_repo_id=model_repo_id,
        base_model=base_model,
        paper_url=PAPER_URL,
    )


def _hub_id(value: str, what: str, option: str) -> str:
    if not is_repo_id(value):
        raise ValueError(
            f"The {what} {value!r} is a local path, not a Hub repo id; the card's metadata needs a Hub id. "
            f"Pass {option} org/name."
        )
    return value


def _hyperparameters(training: dict[str, Any]) -> list[tuple[str, Any]]:
    """The rows of the card's hyperparameter table, in reading order."""
    lora = training["finetuning"] == "lora"
    rows = [
        ("loss", training["loss_type"]),
        ("lambda_caption / lambda_concept", f"{training['lambda_caption']} / {training['lambda_concept']}"),
        ("duplicate concepts masked from negatives", training["mask_duplicate_concepts"]),
        ("duplicate captions masked from negatives", training.get("mask_duplicate_captions", False)),
        ("fine-tuning", "LoRA (merged into the weights)" if lora else "full"),
    ]
    if lora:
        rows += [
            (
                "LoRA rank / alpha / dropout",
                f"{training['lora_r']} / {training['lora_alpha']} / {training['lora_dropout']}",
            ),
            ("LoRA target modules", ", ".join(training["lora_target_modules"])),
            ("LoRA layers", training["lora_layers"]),
            ("LoRA towers", ", ".join(training["lora_towers"])),
        ]
    length = (
        ("training steps", training["max_steps"])
        if training["max_steps"] > 0
        else ("epochs", training["num_train_epochs"])
    )
    rows += [
        ("logit scale trained", training["train_logit_scale"]),
        ("learning rate / weight decay", f"{training['learning_rate']} / {training['weight_decay']}"),
        ("schedule / warmup steps", f"{training['lr_scheduler_type']} / {training['warmup_steps']}"),
        length,
        (
            "batch (per device x accumulation x devices)",
            f"{training['per_device_train_batch_size']} x {training['gradient_accumulation_steps']} "
            f"x {training['world_size']} = {training['effective_batch_size']}",
        ),
        ("seed", training["seed"]),
    ]
    return rows
