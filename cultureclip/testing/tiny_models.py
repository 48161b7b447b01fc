"""Small random-weight checkpoints for tests, benchmarks and the offline demo.

These are *plumbing models*: their weights are random, so they show that the code runs end to end
through the standard loaders (``CLIPModel.from_pretrained``, ``DiffusionPipeline.from_pretrained``,
``pipeline(...)``), not that anything works well. Real users point the same commands at real
checkpoints (``openai/clip-vit-base-patch32``, ``Qwen/Qwen2.5-VL-7B-Instruct``,
``stabilityai/stable-diffusion-3.5-large-turbo``).

Every builder is deterministic: the same package versions and seed give the same bytes.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path

CLIP_SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")
CHAT_SPECIAL_TOKENS = ("<|pad|>", "<|im_start|>", "<|im_end|>", "<image>")
KINDS = ("clip", "diffusion", "llm", "vlm")

# A ChatML template that accepts plain string contents and lists of {"type": "text"|"image"} parts,
# so the same tokenizer serves the text-generation and the image-text-to-text pipelines.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class ClipShape:
    """Shape of the CLIP checkpoint (both towers) and of the diffusion text encoder."""

    vision_width: int = 32
    vision_layers: int = 2
    vision_heads: int = 4
    image_size: int = 32
    patch_size: int = 8
    text_width: int = 32
    text_layers: int = 2
    text_heads: int = 4
    max_text_length: int = 77
    projection_dim: int = 32
    text_vocab_size: int | None = None
    """Rows of the token embedding; ``None`` means the trained tokenizer's size. The "small"
    preset uses CLIP's 49408 so that the embedding table has the real size."""


@dataclass(frozen=True)
class LMShape:
    """Shape of the Llama-style decoder used by the tiny LLM and the tiny VLM."""

    hidden_size: int = 32
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 64
    max_position_embeddings: int = 2048


@dataclass(frozen=True)
class TinyModelsConfig:
    """What `make_tiny_models` builds.

    Args:
        clip: shape of the CLIP model (also the diffusion text encoder and the VLM vision tower).
        lm: shape of the language model of the LLM and the VLM.
        tokenizer_vocab_size: target vocabulary of the BPE tokenizers trained on the project's text.
        diffusion_image_size: pixel size of the images the diffusion pipeline makes by default.
        seed: seed of every random initialisation.
    """

    clip: ClipShape = field(default_factory=ClipShape)
    lm: LMShape = field(default_factory=LMShape)
    tokenizer_vocab_size: int = 1024
    diffusion_image_size: int = 64
    seed: int = 0

    def __post_init__(self):
        shape = self.clip
        if shape.image_size % shape.patch_size:
            raise ValueError(
                f"image_size={shape.image_size} is not a multiple of patch_size={shape.patch_size}; "
                "pick sizes where the patch divides the image."
            )
        for name in ("vision", "text"):
            width, heads = getattr(shape, f"{name}_width"), getattr(shape, f"{name}_heads")
            if width % heads:
                raise ValueError(f"{name}_width={width} is not divisible by {name}_heads={heads}.")
        if self.diffusion_image_size % 8:
            raise ValueError(f"diffusion_image_size={self.diffusion_image_size} must be a multiple of 8.")
        if self.tokenizer_vocab_size < 600:
            raise ValueError(
                f"tokenizer_vocab_size={self.tokenizer_vocab_size} is too small: CLIP needs 512 "
                "byte tokens plus merges; use 600 or more."
            )

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> TinyModelsConfig:
        """``"tiny"`` (tests: seconds) or ``"small"`` (a ViT-B/32-shaped CLIP for benchmarks)."""
        if preset not in PRESETS:
            raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
        return replace(PRESETS[preset], **overrides)


PRESETS = {
    "tiny": TinyModelsConfig(),
    "small": TinyModelsConfig(
        clip=ClipShape(
            vision_width=768,
            vision_layers=12,
            vision_heads=12,
            image_size=224,
            patch_size=32,
            text_width=512,
            text_layers=12,
            text_heads=8,
            projection_dim=512,
            text_vocab_size=49408,
        ),
        tokenizer_vocab_size=4096,
    ),
}


def tokenizer_corpus() -> list[str]:
    """The project's own text the tiny tokenizers are trained on: the curated twins and prompts."""
    lines = []
    data = resources.files("cultureclip.dataset_builder") / "data"
    for path in sorted(data.iterdir(), key=lambda p: p.name):
        if path.name.endswith(".jsonl"):
            for line in path.read_text(encoding="utf-8").splitlines():
                lines.extend(v for v in _strings(json.loads(line)))
        elif path.name.endswith((".txt", ".md")):
            lines.extend(path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line.strip()]


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [s for item in value for s in _strings(item)] if isinstance(value, list) else []


def learn_bpe(words: list[list[str]], num_merges: int) -> list[tuple[str, str]]:
    """Byte-pair merges learnt from pre-split words, most frequent pair first.

    Ties are broken by the pair itself, so the same corpus always gives the same merges (the
    ``tokenizers`` trainer breaks ties in hash order, which changes the bytes from run to run).
    Pair counts are updated only for the words a merge touches.
    """
    counts = Counter(tuple(w) for w in words)
    vocab = [list(word) for word in counts]
    freq = list(counts.values())
    pairs: Counter = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for i, word in enumerate(vocab):
        for pair in zip(word, word[1:]):
            pairs[pair] += freq[i]
            where[pair].add(i)
    # A max-heap of (-count, pair) with stale entries skipped on pop; ties pop the smaller pair.
    heap = [(-n, pair) for pair, n in pairs.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < num_merges and heap:
        negative, best = heapq.heappop(heap)
        if pairs.get(best, 0) != -negative or negative == 0:
            continue
        merges.append(best)
        changed = set()
        for i in sorted(where.pop(best)):
            word = vocab[i]
            for pair in zip(word, word[1:]):
                pairs[pair] -= freq[i]
                changed.add(pair)
            out, j = [], 0
            while j < len(word):
                if tuple(word[j : j + 2]) == best:
                    out.append(best[0] + best[1])
                    j += 2
                else:
                    out.append(word[j])
                    j += 1
            vocab[i] = out
            for pair in zip(out, out[1:]):
                pairs[pair] += freq[i]
                where[pair].add(i)
                changed.add(pair)
        del pairs[best]
        changed.discard(best)
        for pair in changed:
            if pairs[pair] > 0:
                heapq.heappush(heap, (-pairs[pair], pair))
    return merges


def _bpe_vocab(base: list[str], merges: list[tuple[str, str]]) -> dict[str, int]:
    vocab = {token: i for i, token in enumerate(base)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab


def build_clip_tokenizer(vocab_size: int, max_length: int = 77, corpus: list[str] | None = None):
    """A CLIP BPE tokenizer trained on ``corpus`` (default: `tokenizer_corpus`), with every byte (and
    byte + ``</w>``) in the vocabulary: CLIP's unknown token is its end token, where the text tower
    pools, so a missing character would silently move the pooled position."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    base = list(CLIP_SPECIAL_TOKENS) + alphabet + [c + "</w>" for c in alphabet]
    # CLIPTokenizer's own normalizer and pre-tokenizer split the corpus into words.
    splitter = CLIPTokenizer(vocab=_bpe_vocab(base, []), merges=[])._tokenizer
    words = [
        [*word[:-1], word[-1] + "</w>"]
        for line in (tokenizer_corpus() if corpus is None else corpus)
        for word, _ in splitter.pre_tokenizer.pre_tokenize_str(splitter.normalizer.normalize_str(line))
    ]
    merges = learn_bpe(words, vocab_size - len(base))
    return CLIPTokenizer(vocab=_bpe_vocab(base, merges), merges=merges, model_max_length=max_length)


def build_chat_tokenizer(vocab_size: int):
    """A byte-level BPE tokenizer with a ChatML chat template, for the tiny LLM and VLM."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    base = list(CHAT_SPECIAL_TOKENS) + sorted(pre_tokenizers.ByteLevel.alphabet())
    words = [list(word) for line in tokenizer_corpus() for word, _ in pre_tokenizer.pre_tokenize_str(line)]
    merges = learn_bpe(words, vocab_size - len(base))
    bpe = Tokenizer(models.BPE(vocab=_bpe_vocab(base, merges), merges=merges))
    bpe.pre_tokenizer = pre_tokenizer
    bpe.decoder = decoders.ByteLevel()
    bpe.add_special_tokens(list(CHAT_SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token="<|pad|>",
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        extra_special_tokens={"image_token": "<image>"},
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
    )


def clip_configs(shape: ClipShape, vocab_size: int):
    """The text and vision configs of a CLIP model of this shape."""
    from transformers import CLIPTextConfig, CLIPVisionConfig

    text = CLIPTextConfig(
        vocab_size=shape.text_vocab_size or vocab_size,
        hidden_size=shape.text_width,
        intermediate_size=4 * shape.text_width,
        num_hidden_layers=shape.text_layers,
        num_attention_heads=shape.text_heads,
        max_position_embeddings=shape.max_text_length,
        projection_dim=shape.projection_dim,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    vision = CLIPVisionConfig(
        hidden_size=shape.vision_width,
        intermediate_size=4 * shape.vision_width,
        num_hidden_layers=shape.vision_layers,
        num_attention_heads=shape.vision_heads,
        image_size=shape.image_size,
        patch_size=shape.patch_size,
        projection_dim=shape.projection_dim,
    )
    return text, vision


def clip_image_processor(image_size: int):
    """CLIP's preprocessing (resize, centre crop, CLIP mean/std) without torchvision."""
    from transformers import CLIPImageProcessorPil

    return CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )


def make_tiny_clip(out_dir: str | Path, config: TinyModelsConfig) -> Path:
    """``CLIPModel`` + ``CLIPProcessor`` in ``out_dir``."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    shape = config.clip
    tokenizer = build_clip_tokenizer(config.tokenizer_vocab_size, shape.max_text_length)
    text, vision = clip_configs(shape, len(tokenizer))
    model_config = CLIPConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=shape.projection_dim
    )
    torch.manual_seed(config.seed)
    model = CLIPModel(model_config).eval()
    processor = CLIPProcessor(image_processor=clip_image_processor(shape.image_size), tokenizer=tokenizer)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def make_tiny_diffusion(out_dir: str | Path, config: TinyModelsConfig) -> Path:
    """A Stable-Diffusion-style text-to-image pipeline (UNet, VAE, CLIP text encoder, scheduler)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    tokenizer = build_clip_tokenizer(config.tokenizer_vocab_size, config.clip.max_text_length)
    text_config, _ = clip_configs(config.clip, len(tokenizer))
    torch.manual_seed(config.seed)
    text_encoder = CLIPTextModel(text_config)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(32, 32),
        latent_channels=4,
        norm_num_groups=16,
        sample_size=config.diffusion_image_size,
    )
    unet = UNet2DConditionModel(
        sample_size=config.diffusion_image_size // 2,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        cross_attention_dim=config.clip.text_width,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    out_dir = Path(out_dir)
    pipe.save_pretrained(out_dir)
    return out_dir


def _llama_config(config: TinyModelsConfig, tokenizer):
    from transformers import LlamaConfig

    lm = config.lm
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=lm.hidden_size,
        intermediate_size=lm.intermediate_size,
        num_hidden_layers=lm.layers,
        num_attention_heads=lm.heads,
        num_key_value_heads=lm.kv_heads,
        max_position_embeddings=lm.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def make_tiny_llm(out_dir: str | Path, config: TinyModelsConfig) -> Path:
    """A Llama-style causal LM with a chat template (``pipeline("text-generation")``)."""
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    tokenizer = build_chat_tokenizer(config.tokenizer_vocab_size)
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(_llama_config(config, tokenizer)).eval()
    model.generation_config = _generation_config(tokenizer, GenerationConfig)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _generation_config(tokenizer, generation_config_class):
    return generation_config_class(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=32,
    )


def make_tiny_vlm(out_dir: str | Path, config: TinyModelsConfig) -> Path:
    """A LLaVA-style model (CLIP vision tower + Llama) for ``pipeline("image-text-to-text")``."""
    import torch
    from transformers import GenerationConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tokenizer = build_chat_tokenizer(config.tokenizer_vocab_size)
    _, vision = clip_configs(config.clip, len(tokenizer))
    model_config = LlavaConfig(
        vision_config=vision.to_dict() | {"model_type": "clip_vision_model"},
        text_config=_llama_config(config, tokenizer).to_dict(),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(config.clip.image_size // config.clip.patch_size) ** 2,
        vision_feature_layer=-1,
    )
    torch.manual_seed(config.seed)
    model = LlavaForConditionalGeneration(model_config).eval()
    model.generation_config = _generation_config(tokenizer, GenerationConfig)
    processor = LlavaProcessor(
        image_processor=clip_image_processor(config.clip.image_size),
        tokenizer=tokenizer,
        patch_size=config.clip.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


BUILDERS = {"clip": make_tiny_clip, "diffusion": make_tiny_diffusion, "llm": make_tiny_llm, "vlm": make_tiny_vlm}


def make_tiny_models(
    out_dir: str | Path, config: TinyModelsConfig | None = None, kinds: tuple[str, ...] = KINDS
) -> dict[str, Path]:
    """Builds the requested checkpoints under ``out_dir/<kind>`` and returns their folders.

    A ``tiny_models.json`` records the config so a folder says what it is.
    """
    config = config or TinyModelsConfig()
    unknown = sorted(set(kinds) - set(BUILDERS))
    if unknown:
        raise ValueError(f"Unknown model kind(s) {unknown}; choose from {list(KINDS)}.")
    out_dir = Path(out_dir)
    paths = {kind: BUILDERS[kind](out_dir / kind, config) for kind in kinds}
    record = {"note": "random weights: plumbing models, no quality", "config": asdict(config)}
    (out_dir / "tiny_models.json").write_text(json.dumps(record, indent=2) + "\n")
    return paths
