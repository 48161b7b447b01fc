"""CultureCLIPTrainer on the tiny CLIP: what trains, export, resume, bad rows, metrics."""

import json

import pytest
import torch
from cultwin_fixtures import pair_rows, pairs_dataset
from peft import PeftModel
from transformers import CLIPModel, CLIPProcessor, TrainerCallback

from cultureclip.trainer import CultureCLIPConfig, CultureCLIPTrainer, DataCollatorForCulTwin, prepare_model
from cultureclip.trainer.collator import InvalidRowError
from cultureclip.trainer.cultureclip_trainer import retrieval_accuracies
from cultureclip.trainer.data import check_pairs
from cultureclip.trainer.export import export_model


def _config(tmp_path, **overrides):
    values = {
        "output_dir": str(tmp_path / "run"),
        "use_cpu": True,
        "max_steps": 3,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "learning_rate": 1e-2,
        "warmup_steps": 0,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,  # bit-exact resume (workers draw their seed from the global RNG)
    }
    return CultureCLIPConfig(**(values | overrides))


def _trainer(tiny_models, config, dataset=None, **kwargs):
    return CultureCLIPTrainer(
        model=CLIPModel.from_pretrained(tiny_models["clip"]),
        args=config,
        processing_class=CLIPProcessor.from_pretrained(tiny_models["clip"]),
        train_dataset=pairs_dataset() if dataset is None else dataset,
        **kwargs,
    )


def _snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_lora_trains_the_adapters_only_and_the_merged_export_equals_it(tiny_models, tmp_path):
    trainer = _trainer(tiny_models, _config(tmp_path))
    before = _snapshot(trainer.model)
    trainer.train()
    after = _snapshot(trainer.model)
    lora = [name for name in before if "lora_" in name]
    assert lora and all(".q_proj." in name or ".v_proj." in name for name in lora)
    assert {name for name, p in trainer.model.named_parameters() if p.requires_grad} == set(lora)
    assert any(not torch.equal(before[name], after[name]) for name in lora if "lora_B" in name)
    frozen = [name for name in before if "lora_" not in name]
    assert all(torch.equal(before[name], after[name]) for name in frozen)  # includes logit_scale
    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert {"caption_loss", "concept_loss"} <= set(history[0])

    # The trained adapters, merged into a plain CLIPModel, give the PEFT model's outputs.
    model = trainer.model.eval()
    batch = DataCollatorForCulTwin(trainer.processing_class)([pairs_dataset()[i] for i in range(4)])
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "pixel_values")}
    with torch.no_grad():
        expected = model(**inputs)
    folders = export_model(model, trainer.processing_class, tmp_path / "export")

    merged = CLIPModel.from_pretrained(folders["merged"]).eval()
    adapted = PeftModel.from_pretrained(CLIPModel.from_pretrained(tiny_models["clip"]), folders["adapter"]).eval()
    with torch.no_grad():
        for other in (merged(**inputs), adapted(**inputs)):
            torch.testing.assert_close(other.image_embeds, expected.image_embeds, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(other.text_embeds, expected.text_embeds, atol=1e-5, rtol=1e-4)
    assert (folders["merged"] / "model.safetensors").is_file()


@pytest.mark.parametrize("finetuning", ["lora", "full"])
def test_logit_scale_trains_only_when_asked(tiny_models, tmp_path, finetuning):
    trainer = _trainer(tiny_models, _config(tmp_path, train_logit_scale=True, finetuning=finetuning))
    clip = trainer.model.get_base_model() if finetuning == "lora" else trainer.model
    before = clip.logit_scale.detach().clone()
    trainer.train()
    assert not torch.equal(before, clip.logit_scale.detach())
    folders = export_model(trainer.model, trainer.processing_class, tmp_path / "export")
    merged = CLIPModel.from_pretrained(folders["merged"])
    torch.testing.assert_close(merged.logit_scale.detach(), clip.logit_scale.detach())
    if finetuning == "lora":
        saved = json.loads((folders["adapter"] / "logit_scale.json").read_text())["logit_scale"]
        assert saved == pytest.approx(merged.logit_scale.item())
    else:
        assert folders["adapter"] is None


@pytest.mark.parametrize(
    ("layers", "towers", "expected"),
    [
        ("top_half", ["vision", "text"], {("vision_model", 1), ("text_model", 1)}),
        ("bottom_half", ["text"], {("text_model", 0)}),
        ("0,1", ["vision"], {("vision_model", 0), ("vision_model", 1)}),
    ],
)
def test_lora_layer_positions_and_towers(tiny_models, tmp_path, layers, towers, expected):
    config = _config(tmp_path, lora_layers=layers, lora_towers=towers, lora_target_modules=["fc1"])
    model = prepare_model(CLIPModel.from_pretrained(tiny_models["clip"]), config)
    adapted = {
        (name.split(".encoder")[0].split(".")[-1], int(name.split("layers.")[1].split(".")[0]))
        for name, _ in model.named_parameters()
        if "lora_A" in name
    }
    assert adapted == expected
    assert all(".fc1." in name for name, _ in model.named_parameters() if "lora_A" in name)


def test_lora_layers_beyond_the_tower_fail(tiny_models, tmp_path):
    config = _config(tmp_path, lora_layers="0,5")
    with pytest.raises(ValueError, match=r"lora_layers='0,5' names layers \[5\]"):
        prepare_model(CLIPModel.from_pretrained(tiny_models["clip"]), config)


class _StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def test_resume_from_a_checkpoint_gives_the_uninterrupted_weights(tiny_models, tmp_path):
    dataset = pairs_dataset(num_twins=4)  # 16 rows, 4 per step: the run crosses an epoch boundary
    # A trained logit_scale is not in the LoRA checkpoint's adapter: the checkpoint must carry it.
    common = {
        "max_steps": 6,
        "save_strategy": "steps",
        "save_steps": 3,
        "lora_dropout": 0.1,
        "train_logit_scale": True,
    }
    uninterrupted = _trainer(tiny_models, _config(tmp_path / "a", **common), dataset)
    uninterrupted.train()

    stopped = _trainer(tiny_models, _config(tmp_path / "b", **common), dataset, callbacks=[_StopAt(3)])
    stopped.train()
    assert stopped.state.global_step == 3
    resumed = _trainer(tiny_models, _config(tmp_path / "b", **common), dataset)
    resumed.train(resume_from_checkpoint=str(tmp_path / "b" / "run" / "checkpoint-3"))

    expected, actual = _snapshot(uninterrupted.model), _snapshot(resumed.model)
    assert any(not torch.equal(expected[n], _snapshot(stopped.model)[n]) for n in expected if "lora_B" in n)
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=1e-6, msg=name)


def test_a_peft_model_keeps_its_adapters_and_follows_train_logit_scale(tiny_models, tmp_path):
    adapted = prepare_model(CLIPModel.from_pretrained(tiny_models["clip"]), _config(tmp_path, lora_layers="0"))
    processor = CLIPProcessor.from_pretrained(tiny_models["clip"])
    trainer = CultureCLIPTrainer(
        model=adapted, args=_config(tmp_path, train_logit_scale=True), processing_class=processor
    )
    assert trainer.model is adapted and adapted.get_base_model().logit_scale.requires_grad
    assert {name.split("layers.")[1][0] for name, _ in adapted.named_parameters() if "lora_A" in name} == {"0"}


def test_the_loss_is_divided_by_accumulation_steps_on_every_transformers_5(tiny_models, tmp_path):
    # transformers >= 5.19 reads loss_is_scaled_for_ga; earlier 5.x skip the division when the
    # model "accepts loss kwargs" (CLIPModel's forward takes **kwargs).
    trainer = _trainer(tiny_models, _config(tmp_path))
    assert trainer.loss_is_scaled_for_ga is False and trainer.model_accepts_loss_kwargs is False


def test_compute_metrics_is_refused_with_the_alternative(tiny_models, tmp_path):
    with pytest.raises(ValueError, match="does not call compute_metrics.*evaluation.evaluate"):
        _trainer(tiny_models, _config(tmp_path), compute_metrics=lambda prediction: {})


def test_evaluation_reports_loss_terms_and_accuracies(tiny_models, tmp_path):
    trainer = _trainer(tiny_models, _config(tmp_path), eval_dataset=pairs_dataset(num_twins=2))
    metrics = trainer.evaluate()
    expected = {
        "eval_loss",
        "eval_caption_loss",
        "eval_concept_loss",
        "eval_image_text_accuracy",
        "eval_twin_accuracy",
    }
    assert expected <= set(metrics)
    assert 0 <= metrics["eval_twin_accuracy"] <= 1


def test_evaluation_metrics_are_row_weighted_prefixed_and_never_leak(tiny_models, tmp_path):
    config = _config(tmp_path, per_device_eval_batch_size=5, lambda_caption=0.7, lambda_concept=0.3)
    trainer = _trainer(tiny_models, config)
    first, second = pairs_dataset(num_twins=2), pairs_dataset(num_twins=3)  # 8 and 12 rows: a short last batch
    alone = trainer.evaluate(second)
    # Each term is averaged over the same rows as eval_loss, so the weighted sum is the loss.
    combined = 0.7 * alone["eval_caption_loss"] + 0.3 * alone["eval_concept_loss"]
    assert combined == pytest.approx(alone["eval_loss"], rel=1e-5)
    predicted = trainer.predict(first, metric_key_prefix="test").metrics
    assert {"test_loss", "test_caption_loss", "test_twin_accuracy"} <= set(predicted)
    again = trainer.evaluate(second)  # nothing of the predict() call is mixed in
    assert {name: again[name] for name in alone if "runtime" not in name and "per_second" not in name} == {
        name: alone[name] for name in alone if "runtime" not in name and "per_second" not in name
    }


def test_retrieval_accuracies_on_known_embeddings():
    eye = torch.eye(4)
    outputs = {
        "pos_image_embeds": eye[[0, 0, 1]],  # rows 0 and 1 share the positive caption "0"
        "neg_image_embeds": eye[[2, 3, 0]],  # the last twin image looks like caption 0
        "pos_caption_embeds": eye[[0, 0, 1]],
        "neg_caption_embeds": eye[[2, 3, 3]],
    }
    inputs = {"pos_caption_index": torch.tensor([0, 0, 1]), "neg_caption_index": torch.tensor([2, 3, 3])}
    metrics = retrieval_accuracies(outputs, inputs)
    assert metrics["image_text_accuracy"].tolist() == [1.0, 1.0, 0.5]  # per row: its two images
    assert metrics["twin_accuracy"].tolist() == [1.0, 1.0, 0.5]


def test_a_row_with_an_empty_caption_is_named(tiny_models):
    rows = pair_rows()
    rows[2]["neg_caption"] = "  "
    collator = DataCollatorForCulTwin(CLIPProcessor.from_pretrained(tiny_models["clip"]))
    with pytest.raises(InvalidRowError, match=r"pair_id 't0-1-0'\): neg_caption is empty"):
        collator(rows[:4])


def test_undecodable_and_missing_images_fail_or_are_dropped_and_counted():
    from datasets import Image

    dataset = pairs_dataset().cast_column("pos_image", Image(decode=False))
    broken = dataset.map(
        lambda row, i: {"pos_image": {"bytes": b"not an image", "path": None} if i == 1 else row["pos_image"]},
        with_indices=True,
    )
    broken = broken.map(lambda row, i: {"neg_concept": "" if i == 5 else row["neg_concept"]}, with_indices=True)
    broken = broken.cast_column("pos_image", Image())
    with pytest.raises(InvalidRowError, match=r"2 invalid .* row 1 \(pair_id 't0-0-1'\): pos_image does not decode"):
        check_pairs(broken)
    checked = check_pairs(broken, drop_invalid_rows=True)
    assert checked.dropped_rows == 2
    assert len(checked.dataset) == len(dataset) - 2
    assert {"t0-0-1", "t1-0-1"}.isdisjoint(checked.dataset["pair_id"])


def test_image_columns_of_file_paths_train(tiny_models, tmp_path):
    """Pairs read from JSON Lines or CSV name their images by path: they are checked and collated."""
    from datasets import Dataset, Image

    rows = pair_rows(num_twins=1)
    for index, row in enumerate(rows):
        for column in ("pos_image", "neg_image"):
            path = tmp_path / f"{index}-{column}.png"
            row[column].save(path)
            row[column] = str(path)
    rows[3]["neg_image"] = str(tmp_path / "missing.png")
    dataset = Dataset.from_list(rows)
    with pytest.raises(InvalidRowError, match=r"row 3 .*neg_image does not decode"):
        check_pairs(dataset)
    checked = check_pairs(dataset, drop_invalid_rows=True)
    assert checked.dropped_rows == 1 and isinstance(checked.dataset.features["pos_image"], Image)
    collator = DataCollatorForCulTwin(CLIPProcessor.from_pretrained(tiny_models["clip"]))
    assert collator(list(checked.dataset.select(range(2))))["pixel_values"].shape[0] == 4


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"loss_type": "triplet"}, "loss_type='triplet' is unknown"),
        ({"lambda_concept": -1.0}, "lambda_concept=-1.0 is negative"),
        ({"finetuning": "prefix"}, "finetuning='prefix' is unknown"),
        ({"lora_r": 0}, "lora_r=0 must be a positive rank"),
        ({"lora_dropout": 1.0}, r"lora_dropout=1.0 must be in \[0, 1\)"),
        ({"lora_target_modules": ["qkv"]}, r"unknown or no modules \['qkv'\]"),
        ({"lora_towers": ["audio"]}, "lora_towers=.* must be a non-empty subset"),
        ({"lora_layers": "top"}, "lora_layers='top' is not valid"),
        ({"lora_layers": "1,-2"}, "lora_layers='1,-2' is not valid"),
        ({"remove_unused_columns": True}, "set it to False"),
        ({"push_to_hub": True}, "push_to_hub=True would upload .* run `cultureclip publish model --checkpoint"),
    ],
)
def test_bad_configs_say_how_to_fix_them(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        _config(tmp_path, **overrides)
