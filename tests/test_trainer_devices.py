"""Device and multi-process settings of the trainer that a CPU can check: sharding, DDP options, precision, loader."""

import logging
from pathlib import Path

import pytest
import torch
from cultwin_fixtures import pairs_dataset
from transformers import CLIPModel, CLIPProcessor, TrainingArguments

from cultureclip.trainer import CultureCLIPConfig, CultureCLIPTrainer
from cultureclip.trainer.config import global_batch_note
from cultureclip.trainer.cultureclip_trainer import embed_batch
from cultureclip.trainer.sampling import GlobalBatchShards
from cultureclip.trainer.train import parse_args

ROOT = Path(__file__).parents[1]


def _config(tmp_path, **overrides):
    values = {"output_dir": str(tmp_path / "run"), "use_cpu": True, "report_to": "none", "disable_tqdm": True}
    return CultureCLIPConfig(**(values | overrides))


def _trainer(tiny_models, config):
    return CultureCLIPTrainer(
        model=CLIPModel.from_pretrained(tiny_models["clip"]),
        args=config,
        processing_class=CLIPProcessor.from_pretrained(tiny_models["clip"]),
        train_dataset=pairs_dataset(),
    )


def test_processes_share_each_global_batch_and_split_a_short_last_one():
    rows, per_process = range(11), 2
    shards = [GlobalBatchShards(rows, per_process, 2, rank) for rank in (0, 1)]
    assert [list(s) for s in shards] == [[[0, 1], [4, 5], [8, 9]], [[2, 3], [6, 7], [10]]]
    assert len(shards[0]) == len(shards[1]) == 3
    # Together, the batches of one process with the global batch, nothing repeated.
    one = [list(rows[i : i + 4]) for i in range(0, 11, 4)]
    assert [a + b for a, b in zip(*shards)] == one
    assert list(GlobalBatchShards(rows, per_process, 2, 1, drop_last=True)) == [[2, 3], [6, 7]]
    # 10 rows, 3 processes x 2: the short last batch of 4 rows is cut 2 + 1 + 1.
    assert [list(GlobalBatchShards(range(10), 2, 3, rank))[-1] for rank in range(3)] == [[6, 7], [8], [9]]


def test_a_last_batch_smaller_than_the_processes_is_refused():
    with pytest.raises(ValueError, match=r"last batch of 9 rows would hold 1 row\(s\) for 2 processes.*drop_last"):
        GlobalBatchShards(range(9), 2, 2, 0)
    assert len(GlobalBatchShards(range(9), 2, 2, 0, drop_last=True)) == 2


def test_the_train_loader_of_a_process_takes_its_slice_of_each_global_batch(tiny_models, tmp_path, monkeypatch):
    """accelerate's sharding (round-robin batches, the last one padded with repeated rows) is replaced."""
    from accelerate import Accelerator
    from accelerate.data_loader import prepare_data_loader

    config = _config(
        tmp_path, per_device_train_batch_size=2, train_sampling_strategy="sequential", dataloader_num_workers=0
    )
    trainer = _trainer(tiny_models, config)
    trainer.train_dataset = pairs_dataset().select(range(11))
    monkeypatch.setattr(trainer.args.__class__, "world_size", property(lambda self: 2))

    def two_processes(self, dataloader, *args, **kwargs):  # what accelerate does on process 1 of 2
        return prepare_data_loader(dataloader, num_processes=2, process_index=1)

    monkeypatch.setattr(Accelerator, "prepare", two_processes)
    loader = trainer.get_train_dataloader()
    assert list(loader.batch_sampler) == [[2, 3], [6, 7], [10]] and len(loader) == 3


def test_dataparallel_is_refused_with_the_launch_command(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setattr(TrainingArguments, "n_gpu", property(lambda self: 4))
    with pytest.raises(ValueError, match=r"4 GPUs are visible.*torchrun --nproc_per_node 4 -m cultureclip.cli train"):
        _trainer(tiny_models, _config(tmp_path))


@pytest.mark.parametrize(
    "settings",
    [
        {"train_logit_scale": True},
        {"lora_towers": ["vision"], "lora_layers": "top_half"},
        {"finetuning": "full", "train_logit_scale": True},
    ],
)
def test_every_trainable_parameter_gets_a_gradient_so_ddp_needs_no_search(tiny_models, tmp_path, settings):
    """Why ddp_find_unused_parameters defaults to False (a PeftModel would make the Trainer search every step)."""
    config = _config(tmp_path, **settings)
    assert config.ddp_find_unused_parameters is False
    trainer = _trainer(tiny_models, config)
    batch = trainer.data_collator([pairs_dataset()[i] for i in range(4)])
    trainer.compute_loss(trainer.model, batch).backward()
    trainable = {name: p for name, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all(p.grad is not None for p in trainable.values()), [
        name for name, p in trainable.items() if p.grad is None
    ]


def test_loader_defaults_keep_a_gpu_busy_and_drop_worker_options_without_workers(tmp_path):
    config = _config(tmp_path)
    assert (config.dataloader_num_workers, config.dataloader_persistent_workers) == (4, True)
    assert config.dataloader_prefetch_factor == 4
    no_workers = _config(tmp_path, dataloader_num_workers=0)
    assert (no_workers.dataloader_persistent_workers, no_workers.dataloader_prefetch_factor) == (False, None)


def test_a_loader_with_workers_collates_in_them(tiny_models, tmp_path):
    trainer = _trainer(tiny_models, _config(tmp_path, dataloader_num_workers=2, per_device_train_batch_size=4))
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["pixel_values"].shape[0] == 8 and batch["pos_caption_index"].shape == (4,)


def test_auto_precision_turns_on_bf16_and_tf32_where_the_gpu_has_them(tmp_path, monkeypatch):
    import transformers.training_args as training_args
    import transformers.utils as utils

    cpu = _config(tmp_path, auto_precision=True, use_cpu=False)
    assert not cpu.bf16 and not cpu.tf32  # no GPU here: fp32
    for module in (utils, training_args):  # an Ampere GPU, as far as these checks can tell
        monkeypatch.setattr(module, "is_torch_bf16_gpu_available", lambda: True)
        monkeypatch.setattr(module, "is_torch_tf32_available", lambda: True)
    monkeypatch.setattr(training_args, "enable_tf32", lambda enabled: None)
    gpu = _config(tmp_path, auto_precision=True, use_cpu=False)
    assert gpu.bf16 and gpu.tf32 and gpu.mixed_precision == "bf16"
    assert not _config(tmp_path, auto_precision=True, use_cpu=False, fp16=True).bf16  # an explicit fp16 stays
    assert not _config(tmp_path, use_cpu=False).bf16  # off unless asked


def test_the_paper_config_asks_for_auto_precision_and_parses_on_a_cpu():
    config, _ = parse_args(["--config", str(ROOT / "configs" / "paper_vitb32.yaml"), "--output_dir", "unused"])
    assert config.auto_precision and not config.bf16


def test_the_global_batch_note_names_the_batches_and_the_settings_that_keep_them(tmp_path, monkeypatch):
    config = _config(tmp_path, per_device_train_batch_size=128, gradient_accumulation_steps=16)
    assert global_batch_note(config) is None
    monkeypatch.setattr(TrainingArguments, "world_size", property(lambda self: 4))
    note = global_batch_note(config)
    assert "4 processes: each optimizer step averages 128 x 16 x 4 = 8192 caption pairs (one process: 2048)" in note
    assert "512 rows per contrastive batch (one process: 128)" in note
    assert "--per_device_train_batch_size 32 keeps both (the paper: 2048 and 128)" in note
    assert "--gradient_accumulation_steps 4 keeps the optimizer batch only" in note
    alone = global_batch_note(_config(tmp_path, gather_across_devices=False, gradient_accumulation_steps=16))
    assert "128 rows per contrastive batch (one process: 128)" in alone
    assert "--gradient_accumulation_steps 4 keeps both" in alone and "--per_device" not in alone


def test_the_note_is_logged_at_start_up(tiny_models, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(TrainingArguments, "world_size", property(lambda self: 2))
    with caplog.at_level(logging.WARNING, logger="cultureclip.trainer.cultureclip_trainer"):
        _trainer(tiny_models, _config(tmp_path))
    assert "2 processes: each optimizer step averages" in caplog.text


def test_a_bf16_autocast_step_keeps_the_loss_in_float32(tiny_models, tmp_path):
    """The Trainer's bf16 path on a CPU (what auto_precision turns on on a GPU): bf16 features, an fp32 loss."""
    config = _config(tmp_path, bf16=True, max_steps=2, per_device_train_batch_size=4, dataloader_num_workers=0)
    trainer = _trainer(tiny_models, config)
    batch = trainer.data_collator([pairs_dataset()[i] for i in range(4)])
    with trainer.accelerator.autocast():
        assert embed_batch(trainer.model, batch)["pos_image_embeds"].dtype == torch.bfloat16
        assert trainer.compute_loss(trainer.model, batch).dtype == torch.float32
    assert torch.isfinite(torch.tensor(trainer.train().training_loss))
