"""`CultureCLIPTrainer`: a ``transformers.Trainer`` that optimises `CultureCLIPLoss` on CulTwin batches."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import torch
from transformers import CLIPModel, CLIPProcessor, Trainer, set_seed

from cultureclip.modeling.loss import CultureCLIPLoss

from .collator import ID_KEYS, DataCollatorForCulTwin
from .config import CultureCLIPConfig, global_batch_note
from .lora import clip_model, load_logit_scale, prepare_model, save_logit_scale
from .sampling import GlobalBatchShards

logger = logging.getLogger(__name__)


class CultureCLIPTrainer(Trainer):
    """Fine-tune CLIP on CulTwin caption pairs with the twin as hard negative.

    Each step runs ONE vision forward over the ``[positive; twin]`` images and ONE text forward
    over the batch's distinct captions and concept names (see `DataCollatorForCulTwin`), then
    `CultureCLIPLoss`. Training logs carry each loss term; evaluation reports ``eval_loss``, the
    terms, ``eval_image_text_accuracy`` (each image picks its own caption among the batch's
    captions) and ``eval_twin_accuracy`` (each image scores its own caption above its twin's).

    Args:
        model: a ``CLIPModel``, or a Hub id / local path of one. Unless it is already a
            ``PeftModel``, it is prepared with `prepare_model` (LoRA or full fine-tuning per ``args``);
            a ``PeftModel`` keeps its adapters and only ``args.train_logit_scale`` applies to it.
        args: the `CultureCLIPConfig`.
        processing_class: the ``CLIPProcessor``; loaded from ``model`` when that is a string.
        data_collator: defaults to ``DataCollatorForCulTwin(processing_class)``.
        **kwargs: passed to ``transformers.Trainer`` (``train_dataset``, ``eval_dataset``, callbacks...);
            ``compute_metrics`` is refused (the trainer reports its own metrics).
    """

    # The loss is a per-batch mean (contrastive terms do not sum over items), so the Trainer divides
    # it by the accumulation steps; ``num_items_in_batch`` is not meaningful for it. transformers
    # >= 5.19 reads ``loss_is_scaled_for_ga``; earlier 5.x read ``model_accepts_loss_kwargs`` (set
    # in ``__init__`` after the Trainer's own guess from the model's signature, as TRL does).
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        model: CLIPModel | str,
        args: CultureCLIPConfig,
        processing_class: CLIPProcessor | None = None,
        data_collator: DataCollatorForCulTwin | None = None,
        **kwargs,
    ):
        if not isinstance(args, CultureCLIPConfig):
            raise TypeError(f"args must be a CultureCLIPConfig, got {type(args).__name__}.")
        if args.n_gpu > 1:  # the Trainer would use nn.DataParallel, which splits texts and images separately
            raise ValueError(
                f"{args.n_gpu} GPUs are visible to one process, so the Trainer would wrap the model in "
                "nn.DataParallel, which splits a batch's texts and images apart and breaks the loss. Launch one "
                f"process per GPU (torchrun --nproc_per_node {args.n_gpu} -m cultureclip.cli train ...), or "
                "train on one GPU (CUDA_VISIBLE_DEVICES=0)."
            )
        if isinstance(model, str):
            processing_class = processing_class or CLIPProcessor.from_pretrained(model)
            model = CLIPModel.from_pretrained(model)
        if processing_class is None:
            raise ValueError("Pass processing_class (the CLIPProcessor of the model).")
        if kwargs.get("compute_metrics") is not None:
            raise ValueError(
                "CultureCLIPTrainer computes its own evaluation metrics (the loss terms, "
                "eval_image_text_accuracy, eval_twin_accuracy) and does not call compute_metrics; "
                "for benchmark scores, call evaluation.evaluate from a TrainerCallback."
            )
        from peft import PeftModel

        if isinstance(model, PeftModel):  # e.g. a saved adapter, trained further: its LoRA layout stays
            clip_model(model).logit_scale.requires_grad_(args.train_logit_scale)
        else:
            set_seed(args.seed)  # the adapters' initialisation is part of the run's reproducibility
            model = prepare_model(model, args)
        self.loss_fn = CultureCLIPLoss(
            loss_type=args.loss_type,
            lambda_caption=args.lambda_caption,
            lambda_concept=args.lambda_concept,
            mask_duplicate_concepts=args.mask_duplicate_concepts,
            mask_duplicate_captions=args.mask_duplicate_captions,
            gather_across_devices=args.gather_across_devices,
        )
        self._stored_metrics: dict[str, dict[str, list[torch.Tensor]]] = defaultdict(lambda: defaultdict(list))
        super().__init__(
            model=model,
            args=args,
            processing_class=processing_class,
            data_collator=data_collator or DataCollatorForCulTwin(processing_class),
            **kwargs,
        )
        self.model_accepts_loss_kwargs = False
        note = global_batch_note(args)
        if note and self.is_world_process_zero():
            logger.warning(note)

    def get_train_dataloader(self):
        """The Trainer's loader, except that with N processes each takes its slice of every global batch
        (`GlobalBatchShards`): a short last batch is split, not padded with repeated rows."""
        from accelerate.data_loader import BatchSamplerShard

        dataloader = super().get_train_dataloader()
        shards = getattr(dataloader, "batch_sampler", None)
        if isinstance(shards, BatchSamplerShard) and shards.num_processes > 1 and not shards.split_batches:
            # As the Trainer does for its rank-aware BatchRebalanceSampler: accelerate's wrapper passes through.
            shards.batch_sampler = GlobalBatchShards(
                shards.batch_sampler.sampler,
                self._train_batch_size,
                shards.num_processes,
                shards.process_index,
                self.args.dataloader_drop_last,
            )
            shards.num_processes, shards.process_index, shards.batch_size = 1, 0, None
        return dataloader

    def train(self, *args, **kwargs):
        """``Trainer.train``, keeping the text config's special-token ids of the base model.

        ``Trainer.train`` rewrites them to the tokenizer's (meant for generative models). In CLIP they
        choose where the text tower pools: the legacy ``eos_token_id`` 2 of ``openai/clip-vit-*`` means
        ``argmax(input_ids)``, so a rewrite would silently change the exported checkpoint's config.
        """
        text_config = clip_model(self.model).config.text_config
        kept = {name: getattr(text_config, name) for name in ("bos_token_id", "eos_token_id", "pad_token_id")}
        try:
            return super().train(*args, **kwargs)
        finally:
            for name, value in kept.items():
                setattr(text_config, name, value)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        embeds = embed_batch(model, inputs)
        terms = self.loss_fn(
            **embeds,
            logit_scale=clip_model(self.accelerator.unwrap_model(model)).logit_scale.exp(),
            **{key: inputs[key] for key in ID_KEYS},
        )
        if model.training:
            self._store({name: value for name, value in terms.items() if name != "loss"}, "train")
        return (terms["loss"], {**terms, **embeds}) if return_outputs else terms["loss"]

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
        rows = inputs["pos_caption_index"].shape[0]
        metrics = {name: outputs[name].expand(rows) for name in outputs if name.endswith("_loss") and name != "loss"}
        metrics |= retrieval_accuracies(outputs, inputs)
        # One value per row, gathered as the Trainer gathers eval_loss: the rows that even_batches repeats on
        # the last batch of a multi-process run are dropped from both.
        gathered = self.accelerator.gather_for_metrics(torch.stack(list(metrics.values()), dim=1))
        self._store(dict(zip(metrics, gathered.sum(0))) | {"rows": torch.tensor(float(len(gathered)))}, "eval")
        return loss.detach(), None, None

    def evaluation_loop(
        self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix="eval"
    ):
        """The Trainer's loop, plus the loss terms and accuracies over the same rows, under the same prefix."""
        self._stored_metrics.pop("eval", None)
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        sums = {name: torch.stack(values).sum() for name, values in self._stored_metrics.pop("eval", {}).items()}
        rows = sums.pop("rows", None)
        for name, total in sums.items():
            output.metrics[f"{metric_key_prefix}_{name}"] = (total / rows).item()
        return output

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        super()._save(output_dir, state_dict)
        if self.args.should_save:  # a LoRA checkpoint alone would lose a trained logit_scale
            save_logit_scale(self.accelerator.unwrap_model(self.model), output_dir or self.args.output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        load_logit_scale(self.accelerator.unwrap_model(model or self.model), resume_from_checkpoint)

    def _load_best_model(self) -> None:
        super()._load_best_model()
        load_logit_scale(self.accelerator.unwrap_model(self.model), self.state.best_model_checkpoint)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._stored_metrics["train"]:  # a training log: the terms since the last one
            for name, values in self._stored_metrics.pop("train").items():
                mean = self.accelerator.reduce(torch.stack(values).mean(), reduction="mean")
                logs[name] = round(mean.item(), 4)
        super().log(logs, start_time)

    def _store(self, metrics: dict[str, torch.Tensor], split: str) -> None:
        for name, value in metrics.items():
            self._stored_metrics[split][name].append(value.detach().float())


_TEXTS = ("pos_caption", "neg_caption", "pos_concept", "neg_concept")


def embed_batch(model, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
    """One vision forward and one text forward over a `DataCollatorForCulTwin` batch.

    Returns the six per-row embeddings the loss takes (``pos_image_embeds`` ... ``neg_concept_embeds``,
    each ``(B, D)``); each distinct text was encoded once and is indexed back to its rows.
    """
    # Calling the model itself (not get_*_features) keeps DDP's forward hooks in the loop.
    outputs = model(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        pixel_values=inputs["pixel_values"],
        return_dict=True,
    )
    pos_images, neg_images = outputs.image_embeds.chunk(2)
    return {
        "pos_image_embeds": pos_images,
        "neg_image_embeds": neg_images,
        **{f"{name}_embeds": outputs.text_embeds[inputs[f"{name}_index"]] for name in _TEXTS},
    }


def retrieval_accuracies(outputs: dict[str, torch.Tensor], inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Image->text and twin accuracy of each row of a batch (``(B,)`` tensors; no host sync).

    ``image_text_accuracy``: each of the row's two images (positive and twin) ranks its own caption
    first among the batch's distinct captions. ``twin_accuracy``: each of the row's two images scores
    its own caption above its twin's caption. A row's value is the mean over its two images.
    """
    normalize = torch.nn.functional.normalize
    images = normalize(torch.cat([outputs["pos_image_embeds"], outputs["neg_image_embeds"]]), dim=-1)
    captions = normalize(torch.cat([outputs["pos_caption_embeds"], outputs["neg_caption_embeds"]]), dim=-1)
    own = torch.cat([inputs["pos_caption_index"], inputs["neg_caption_index"]])
    predicted = own[(images @ captions.T).argmax(dim=-1)]  # equal captions are equal columns: compare texts
    own_score = (images * captions).sum(-1)
    twin_score = (images * captions.roll(len(images) // 2, dims=0)).sum(-1)
    per_image = {"image_text_accuracy": predicted == own, "twin_accuracy": own_score > twin_score}
    return {name: correct.float().view(2, -1).mean(0) for name, correct in per_image.items()}
