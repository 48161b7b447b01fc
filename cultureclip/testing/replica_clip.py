"""A random-weight replica of ``openai/clip-vit-base-patch32`` with OpenAI's own BPE.

The tiny CLIP of `tiny_models` shares only the interface of the real checkpoint. The replica keeps
everything that changes behaviour: the ViT-B/32 architecture, the real ``config.json`` values
(including the legacy ``text_config`` token ids 0/1/2 that make transformers pool the text features
at ``argmax(input_ids)``), the real image processor, and the real vocabulary and merges, built from
``bpe_simple_vocab_16e6.txt.gz`` exactly as OpenAI's ``SimpleTokenizer`` builds them. Only the
weights differ (random). OpenAI's BPE file ships inside ``open_clip_torch``.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from dataclasses import asdict, dataclass
from pathlib import Path

MIRRORS = "openai/clip-vit-base-patch32"
BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
# SimpleTokenizer: the file's first line is a header; it keeps 49152 - 256 - 2 merges after it.
NUM_MERGES = 49152 - 256 - 2
VOCAB_SIZE = 49408
BOS_TOKEN, EOS_TOKEN = "<|startoftext|>", "<|endoftext|>"
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ClipReplicaShape:
    """Widths and depths of the replica; the defaults are ViT-B/32's (the real checkpoint's).

    Tests may shrink the depths; every other value of the real config stays.
    """

    text_width: int = 512
    text_layers: int = 12
    text_heads: int = 8
    vision_width: int = 768
    vision_layers: int = 12
    vision_heads: int = 12
    projection_dim: int = 512

    def __post_init__(self):
        for tower in ("text", "vision"):
            width, heads = getattr(self, f"{tower}_width"), getattr(self, f"{tower}_heads")
            if width <= 0 or heads <= 0 or width % heads:
                raise ValueError(f"{tower}_width={width} must be a positive multiple of {tower}_heads={heads}.")
            if getattr(self, f"{tower}_layers") < 1:
                raise ValueError(f"{tower}_layers must be at least 1, got {getattr(self, f'{tower}_layers')}.")
        if self.projection_dim < 1:
            raise ValueError(f"projection_dim must be at least 1, got {self.projection_dim}.")


VIT_B32 = ClipReplicaShape()


def bytes_to_unicode() -> dict[int, str]:
    """OpenAI's byte -> printable character table, in its order (the order of the first 256 ids)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {b: chr(b) for b in printable} | {b: chr(256 + n) for n, b in enumerate(others)}


def find_openai_bpe() -> Path:
    """The path of OpenAI's ``bpe_simple_vocab_16e6.txt.gz`` inside the installed ``open_clip_torch``.

    Located without importing ``open_clip`` (which imports torchvision).
    """
    spec = importlib.util.find_spec("open_clip")
    path = Path(spec.origin).parent / BPE_FILE if spec and spec.origin else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"OpenAI's CLIP BPE ({BPE_FILE}) ships with open_clip_torch, which is not installed: run "
            "`python -m pip install --no-deps open_clip_torch` (--no-deps: only the file is needed, not torchvision)."
        )
    return path


def openai_vocab_and_merges(bpe_path: str | Path | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The vocabulary and merges (``vocab.json``, ``merges.txt``), built as OpenAI's ``SimpleTokenizer`` builds its encoder.

    Ids: the 256 byte characters, the same with ``</w>``, one token per merge in rank order, then
    ``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407).
    """
    path = Path(bpe_path) if bpe_path else find_openai_bpe()
    with gzip.open(path, "rt", encoding="utf-8") as file:
        lines = file.read().split("\n")[1 : NUM_MERGES + 1]
    merges = [tuple(line.split()) for line in lines]
    if len(merges) != NUM_MERGES or any(len(pair) != 2 for pair in merges):
        raise ValueError(f"{path} is not OpenAI's CLIP BPE: expected {NUM_MERGES} merge lines of two symbols.")
    characters = list(bytes_to_unicode().values())
    tokens = characters + [c + "</w>" for c in characters] + ["".join(pair) for pair in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise ValueError(f"{path} gives {len(vocab)} distinct tokens, not CLIP's {VOCAB_SIZE}.")
    return vocab, merges


def build_openai_clip_tokenizer(bpe_path: str | Path | None = None):
    """transformers' ``CLIPTokenizer`` on OpenAI's vocabulary and merges, with the real checkpoint's
    special tokens (``<|endoftext|>`` is also the unknown and the padding token) and length 77."""
    from transformers import CLIPTokenizer

    vocab, merges = openai_vocab_and_merges(bpe_path)
    return CLIPTokenizer(
        vocab=vocab,
        merges=merges,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        model_max_length=77,
    )


def write_bpe_files(out_dir: Path, bpe_path: str | Path | None = None) -> None:
    """``vocab.json`` and ``merges.txt`` as the real repository has them, next to ``tokenizer.json``
    (transformers 5 saves only the latter; other readers, such as open_clip's, want the pair)."""
    vocab, merges = openai_vocab_and_merges(bpe_path)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2", *(" ".join(pair) for pair in merges)]
    (out_dir / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def replica_config(shape: ClipReplicaShape = VIT_B32):
    """The real ``config.json`` values with this shape's widths and depths."""
    from transformers import CLIPConfig, CLIPTextConfig, CLIPVisionConfig

    # The legacy ids of the real text_config: with eos_token_id == 2 transformers pools at
    # argmax(input_ids), the first <|endoftext|> (the largest id), like the original CLIP.
    text = CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        max_position_embeddings=77,
        hidden_size=shape.text_width,
        intermediate_size=4 * shape.text_width,
        num_hidden_layers=shape.text_layers,
        num_attention_heads=shape.text_heads,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
        projection_dim=shape.projection_dim,
    )
    vision = CLIPVisionConfig(
        hidden_size=shape.vision_width,
        intermediate_size=4 * shape.vision_width,
        num_hidden_layers=shape.vision_layers,
        num_attention_heads=shape.vision_heads,
        image_size=224,
        patch_size=32,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        projection_dim=shape.projection_dim,
    )
    return CLIPConfig(
        text_config=text.to_dict(),
        vision_config=vision.to_dict(),
        projection_dim=shape.projection_dim,
        logit_scale_init_value=2.6592,
        initializer_factor=1.0,
    )


def replica_image_processor():
    """The real preprocessor: shortest edge 224, bicubic, centre crop 224, OpenAI mean/std, RGB.

    The PIL class (torchvision is not required); it saves as ``CLIPImageProcessor`` like the real one.
    """
    from PIL.Image import Resampling
    from transformers import CLIPImageProcessorPil

    return CLIPImageProcessorPil(
        do_convert_rgb=True,
        do_resize=True,
        size={"shortest_edge": 224},
        resample=Resampling.BICUBIC,
        do_center_crop=True,
        crop_size={"height": 224, "width": 224},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(OPENAI_CLIP_MEAN),
        image_std=list(OPENAI_CLIP_STD),
    )


def make_clip_replica(
    out_dir: str | Path, seed: int = 0, shape: ClipReplicaShape = VIT_B32, bpe_path: str | Path | None = None
) -> Path:
    """Writes ``CLIPModel`` + ``CLIPProcessor`` mirroring ``openai/clip-vit-base-patch32`` into ``out_dir``.

    Args:
        out_dir: folder to write (created if needed).
        seed: seed of the random weights; the same seed and package versions give the same bytes.
        shape: widths and depths; the default is ViT-B/32's.
        bpe_path: OpenAI's ``bpe_simple_vocab_16e6.txt.gz``; default: the copy in ``open_clip_torch``.

    Returns:
        ``out_dir``, which also holds ``replica.json``: what it mirrors and what differs.
    """
    import torch
    from transformers import CLIPModel, CLIPProcessor

    tokenizer = build_openai_clip_tokenizer(bpe_path)
    torch.manual_seed(seed)
    model = CLIPModel(replica_config(shape)).eval()
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    CLIPProcessor(image_processor=replica_image_processor(), tokenizer=tokenizer).save_pretrained(out_dir)
    write_bpe_files(out_dir, bpe_path)
    differs = ["weights: random (seeded), not trained"]
    if shape != VIT_B32:
        differs.append(f"widths/depths: {asdict(shape)} instead of ViT-B/32's {asdict(VIT_B32)}")
    record = {
        "mirrors": MIRRORS,
        "kept": [
            "CLIPModel architecture: patch 32, image 224, 77 positions, quick_gelu, projections without bias",
            "config.json values: vocab 49408, legacy text_config ids bos 0 / eos 2 / pad 1, logit_scale_init 2.6592",
            "OpenAI's BPE (bpe_simple_vocab_16e6.txt.gz): <|startoftext|> 49406, <|endoftext|> 49407 (also pad, unk)",
            "preprocessor: shortest edge 224, bicubic, centre crop 224, OpenAI mean/std, RGB",
        ],
        "differs": differs,
        "seed": seed,
        "shape": asdict(shape),
    }
    (out_dir / "replica.json").write_text(json.dumps(record, indent=2) + "\n")
    return out_dir
