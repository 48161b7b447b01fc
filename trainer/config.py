"""`CultureCLIPConfig`: ``TrainingArguments`` plus the loss, LoRA and data options of CultureCLIP."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from cultureclip.modeling.loss import LOSS_TYPES

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
LORA_LAYER_PRESETS = ("all", "top_half", "bottom_half")
TOWERS = ("vision", "text")
FINETUNING = ("lora", "full")


@dataclass
class CultureCLIPConfig(TrainingArguments):
    r"""Training arguments of CultureCLIP. Defaults are the released run (openai/clip-vit-base-patch32).

    Parameters:
        loss_type (`str`, defaults to `"cultureclip"`):
            The objective, one of `cultureclip.modeling.loss.LOSS_TYPES`.
        lambda_caption (`float`, defaults to `0.7`):
            Weight of the caption term when the loss has both terms.
        lambda_concept (`float`, defaults to `0.3`):
            Weight of the concept term when the loss has both terms.
        mask_duplicate_concepts (`bool`, defaults to `True`):
            Rows sharing a concept are not each other's negatives in the concept terms.
        mask_duplicate_captions (`bool`, defaults to `True`):
            Rows sharing a caption are not each other's negatives in the caption terms.
        gather_across_devices (`bool`, defaults to `True`):
            All-gather features across processes so that negatives come from the global batch
            (no effect in a single process).
        finetuning (`str`, defaults to `"lora"`):
            `"lora"`: both towers frozen, LoRA adapters trained; `"full"`: every weight trains.
        lora_r (`int`, defaults to `4`), lora_alpha (`int`, defaults to `16`), lora_dropout (`float`, defaults to `0.1`):
            LoRA rank, scaling alpha and dropout.
        lora_target_modules (`list[str]`, defaults to `["q_proj", "v_proj"]`):
            Linear layers of each encoder layer that get an adapter, among `LORA_TARGETS`.
        lora_layers (`str`, defaults to `"all"`):
            Which encoder layers of each adapted tower: `"all"`, `"top_half"` (the later layers),
            `"bottom_half"`, or a comma-separated list of layer indices such as `"0,1,10,11"`.
        lora_towers (`list[str]`, defaults to `["vision", "text"]`):
            Towers that get adapters.
        train_logit_scale (`bool`, defaults to `False`):
            Whether CLIP's temperature trains. The released run keeps it frozen (PEFT freezes
            every base parameter, and `logit_scale` is a bare parameter, not a module), so the
            default keeps the pretrained temperature; with LoRA and `True` its trained value is
            part of the merged model and written to the adapter folder as `logit_scale.json`.
        drop_invalid_rows (`bool`, defaults to `False`):
            A row with a missing/undecodable image or an empty caption or concept raises an error
            naming the row; `True` drops such rows before training and counts them instead.
        auto_precision (`bool`, defaults to `False`):
            Turn on bf16 autocast and TF32 matmuls where the GPU supports them (fp32 elsewhere).
            The loss is computed in fp32 either way (`CultureCLIPLoss`).
        pixel_cache_dir (`str`, *optional*):
            Where the pixel cache of a release's images goes (`cultureclip.trainer.pixel_cache`: each
            image decoded and preprocessed once, 150 KB at 224 px, reused by later runs). Defaults to
            the concepts' `datasets` cache folder, or a temporary folder for in-memory rows.

    Defaults that differ from `TrainingArguments`: the released run's optimiser settings, the
    CulTwin columns kept, ``ddp_find_unused_parameters=False`` (every trainable parameter gets a
    gradient at every step: both towers run on every batch), and a loader that keeps a GPU busy
    (4 workers decode and preprocess images, kept alive between epochs, 4 batches ahead each). With
    workers and dropout, a resumed run is not bit-identical to an uninterrupted one (each new loader
    iterator draws its workers' seed from the global RNG); ``dataloader_num_workers=0`` makes it so.
    """

    loss_type: str = field(default="cultureclip", metadata={"help": f"One of {sorted(LOSS_TYPES)}."})
    lambda_caption: float = field(default=0.7, metadata={"help": "Weight of the caption term."})
    lambda_concept: float = field(default=0.3, metadata={"help": "Weight of the concept term."})
    mask_duplicate_concepts: bool = field(
        default=True, metadata={"help": "Rows sharing a concept are not each other's negatives in concept terms."}
    )
    mask_duplicate_captions: bool = field(
        default=True, metadata={"help": "Rows sharing a caption are not each other's negatives in caption terms."}
    )
    gather_across_devices: bool = field(
        default=True, metadata={"help": "All-gather features across processes (negatives from the global batch)."}
    )
    finetuning: str = field(default="lora", metadata={"help": "'lora' (frozen towers + adapters) or 'full'."})
    lora_r: int = field(default=4, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.1, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "v_proj"],
        metadata={"help": f"Linear layers of each encoder layer to adapt, among {list(LORA_TARGETS)}."},
    )
    lora_layers: str = field(
        default="all",
        metadata={"help": "'all', 'top_half', 'bottom_half' or comma-separated layer indices, e.g. '0,1,11'."},
    )
    lora_towers: list[str] = field(
        default_factory=lambda: ["vision", "text"], metadata={"help": "Towers to adapt: vision and/or text."}
    )
    train_logit_scale: bool = field(default=False, metadata={"help": "Whether CLIP's logit_scale trains."})
    drop_invalid_rows: bool = field(
        default=False, metadata={"help": "Drop and count rows with a broken image or empty text instead of failing."}
    )
    auto_precision: bool = field(
        default=False, metadata={"help": "bf16 autocast and TF32 where the GPU supports them (the loss stays fp32)."}
    )
    pixel_cache_dir: str | None = field(
        default=None, metadata={"help": "Folder of the images' pixel cache (default: the datasets cache)."}
    )
    # Trainer defaults that differ for CultureCLIP: the collator needs the raw CulTwin columns, the
    # released run's optimiser settings, DDP without the unused-parameter search, a busy loader.
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep the CulTwin columns (needed)."})
    learning_rate: float = field(default=1e-5, metadata={"help": "AdamW learning rate."})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay."})
    warmup_steps: float = field(default=100, metadata={"help": "Linear warmup steps."})
    num_train_epochs: float = field(default=10.0, metadata={"help": "Training epochs."})
    per_device_train_batch_size: int = field(default=128, metadata={"help": "Caption pairs per device per step."})
    gradient_accumulation_steps: int = field(default=16, metadata={"help": "Steps accumulated per update."})
    seed: int = field(default=42, metadata={"help": "Random seed."})
    ddp_find_unused_parameters: bool | None = field(
        default=False, metadata={"help": "Every trainable parameter gets a gradient each step: no search needed."}
    )
    dataloader_num_workers: int = field(default=4, metadata={"help": "Processes that decode and preprocess images."})
    dataloader_persistent_workers: bool = field(
        default=True, metadata={"help": "Keep the loader's workers between epochs (ignored without workers)."}
    )
    dataloader_prefetch_factor: int | None = field(
        default=4, metadata={"help": "Batches each worker prepares ahead (ignored without workers)."}
    )

    def __post_init__(self):
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type={self.loss_type!r} is unknown; choose one of {sorted(LOSS_TYPES)}.")
        for name in ("lambda_caption", "lambda_concept"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} is negative; use a weight >= 0.")
        if self.finetuning not in FINETUNING:
            raise ValueError(f"finetuning={self.finetuning!r} is unknown; use 'lora' or 'full'.")
        if self.lora_r < 1:
            raise ValueError(f"lora_r={self.lora_r} must be a positive rank, e.g. 4.")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout={self.lora_dropout} must be in [0, 1).")
        bad = sorted(set(self.lora_target_modules) - set(LORA_TARGETS))
        if bad or not self.lora_target_modules:
            raise ValueError(
                f"lora_target_modules={self.lora_target_modules} has unknown or no modules {bad}; "
                f"pick from {list(LORA_TARGETS)}."
            )
        bad = sorted(set(self.lora_towers) - set(TOWERS))
        if bad or not self.lora_towers:
            raise ValueError(f"lora_towers={self.lora_towers} must be a non-empty subset of {list(TOWERS)}.")
        parse_lora_layers(self.lora_layers)
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError(
                f"max_steps={self.max_steps} and num_train_epochs={self.num_train_epochs} train nothing; set "
                "--max_steps N or --num_train_epochs N (> 0)."
            )
        if self.remove_unused_columns:
            raise ValueError(
                "remove_unused_columns=True would drop the CulTwin columns the collator reads; set it to False."
            )
        if self.push_to_hub:
            raise ValueError(
                "push_to_hub=True would upload the Trainer's adapter checkpoint without the model card, the merged "
                "model and the checks of publishing; train without it, then run `cultureclip publish model "
                f"--checkpoint {self.output_dir} --repo-id ORG/NAME`."
            )
        if self.dataloader_num_workers == 0:  # both only apply to worker processes
            self.dataloader_persistent_workers, self.dataloader_prefetch_factor = False, None
        if self.auto_precision and not self.use_cpu:
            from transformers.utils import is_torch_bf16_gpu_available, is_torch_tf32_available

            self.bf16 = self.bf16 or (not self.fp16 and is_torch_bf16_gpu_available())
            self.tf32 = is_torch_tf32_available() if self.tf32 is None else self.tf32
        super().__post_init__()


def global_batch_note(config: CultureCLIPConfig) -> str | None:
    """What N processes change in the optimisation, and the settings that keep a single process's batches.

    ``None`` for a single process. With ``gather_across_devices`` the contrastive batch (the rows of one
    softmax) grows with the processes too; the learning rate does not follow either.
    """
    world = config.world_size
    if world <= 1:
        return None
    per_device, accumulation = config.per_device_train_batch_size, config.gradient_accumulation_steps
    contrastive = per_device * world if config.gather_across_devices else per_device
    note = (
        f"{world} processes: each optimizer step averages {per_device} x {accumulation} x {world} = "
        f"{per_device * accumulation * world} caption pairs (one process: {per_device * accumulation}) with "
        f"{contrastive} rows per contrastive batch (one process: {per_device}), at the same learning_rate "
        f"{config.learning_rate}."
    )
    keep = []
    if config.gather_across_devices and per_device % world == 0:
        keep.append(f"--per_device_train_batch_size {per_device // world} keeps both (the paper: 2048 and 128)")
    if accumulation % world == 0:
        kept = "the optimizer batch only" if config.gather_across_devices else "both"
        keep.append(f"--gradient_accumulation_steps {accumulation // world} keeps {kept}")
    return note + (" " + "; ".join(keep) + "." if keep else "")


def parse_lora_layers(spec: str) -> str | list[int]:
    """``"all"``/``"top_half"``/``"bottom_half"`` as is, or ``"0,1,11"`` as a list of ints."""
    if spec in LORA_LAYER_PRESETS:
        return spec
    try:
        layers = [int(part) for part in spec.split(",")]
    except ValueError:
        layers = []
    if not layers or any(layer < 0 for layer in layers):
        raise ValueError(
            f"lora_layers={spec!r} is not valid; use one of {list(LORA_LAYER_PRESETS)} or comma-separated "
            "non-negative layer indices such as '0,1,11'."
        )
    return sorted(set(layers))
