"""A random-weight replica of ``Qwen/Qwen2.5-VL-7B-Instruct`` (the paper's VLM for every language step).

Everything that changes behaviour is the real checkpoint's: the architecture
(``Qwen2_5_VLForConditionalGeneration``: 14-pixel patches, 2x2 spatial merge, temporal patch 2,
112-pixel attention windows with periodic full-attention blocks, multimodal rope sections in the
real 2:3:3 proportion of the head size), the token ids, the special tokens, the chat template,
the image processor's pixel bounds and the file layout of the Hub repository. Only widths, depths
and the learnt part of the vocabulary are small: the byte-level BPE is trained on the project's
own text, and its ids jump to the real special-token ids (151643 on) in the real 152064-row
embedding, so a generated id either decodes to a few bytes or, like the real model's unused ids,
to nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

MIRRORS = "Qwen/Qwen2.5-VL-7B-Instruct"

# tokenizer_config.json of the real checkpoint: 22 added tokens from id 151643, in this order
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
FIRST_SPECIAL_ID = 151643
VOCAB_SIZE = 152064
# the real additional_special_tokens: <|im_start|> ... <|video_pad|>
ADDITIONAL_SPECIAL_TOKENS = SPECIAL_TOKENS[1:14]

CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

PREPROCESSOR_CONFIG = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2_5_VLProcessor",
}

# The real text model: hidden 3584 = 28 heads x 128, 4 KV heads, mrope [16, 24, 24] (half the head
# size). Here: 2 heads x 16, 1 KV head, mrope [2, 3, 3] (the same 2:3:3 split of half the head size).
TEXT_CONFIG = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_window_layers": 2,
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 128000,
    "rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1000000.0},
    "use_sliding_window": False,
    "sliding_window": None,
    "vocab_size": VOCAB_SIZE,
    "tie_word_embeddings": False,
}
# The real vision tower: depth 32, width 1280 (16 heads), full attention in blocks 7, 15, 23, 31 (the
# last of every 8), windowed attention elsewhere. Here: depth 4, full attention in the last of every 2.
VISION_CONFIG = {
    "depth": 4,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_heads": 2,
    "out_hidden_size": TEXT_CONFIG["hidden_size"],
    "fullatt_block_indexes": [1, 3],
    "hidden_act": "silu",
    "in_channels": 3,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "tokens_per_second": 2,
    "window_size": 112,
}
TOKEN_IDS = {
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "pad_token_id": 151643,
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
}
# generation_config.json: generation stops at <|im_end|> or <|endoftext|>
GENERATION_IDS = {"bos_token_id": 151643, "pad_token_id": 151643, "eos_token_id": [151645, 151643]}
LEARNT_VOCAB = 1024


def build_qwen_tokenizer(vocab_size: int = LEARNT_VOCAB):
    """A ``Qwen2Tokenizer`` (Qwen2's pre-tokenizer regex, NFC, byte-level BPE) with ``vocab_size``
    learnt tokens and the real special tokens at their real ids."""
    from tokenizers import pre_tokenizers
    from transformers import Qwen2Tokenizer

    from .tiny_models import _bpe_vocab, learn_bpe, tokenizer_corpus

    splitter = Qwen2Tokenizer(vocab={SPECIAL_TOKENS[0]: 0}, merges=[])._tokenizer.pre_tokenizer
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    words = [list(word) for line in tokenizer_corpus() for word, _ in splitter.pre_tokenize_str(line)]
    merges = learn_bpe(words, vocab_size - len(alphabet))
    vocab = _bpe_vocab(alphabet, merges) | {t: FIRST_SPECIAL_ID + i for i, t in enumerate(SPECIAL_TOKENS)}
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=131072,
        errors="replace",
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
        chat_template=CHAT_TEMPLATE,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(ADDITIONAL_SPECIAL_TOKENS)})
    tokenizer.add_tokens(list(SPECIAL_TOKENS[14:]))
    return tokenizer


def qwen_config():
    """The small ``Qwen2_5_VLConfig``."""
    from transformers import Qwen2_5_VLConfig

    text = TEXT_CONFIG | {k: TOKEN_IDS[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    return Qwen2_5_VLConfig(text_config=text, vision_config=VISION_CONFIG, tie_word_embeddings=False, **TOKEN_IDS)


def make_qwen_replica(out_dir: str | Path, seed: int = 0) -> Path:
    """Writes the replica to ``out_dir`` with the real repository's files: ``config.json``,
    ``generation_config.json``, the weights, ``tokenizer.json`` / ``tokenizer_config.json`` (transformers
    5 writes no ``vocab.json`` / ``merges.txt``, and the template also as ``chat_template.jinja``),
    ``preprocessor_config.json``, ``chat_template.json`` and a ``replica.json`` saying what it mirrors
    and what differs.

    The files are written directly (not with ``Qwen2_5_VLProcessor.save_pretrained``) because the full
    processor cannot be built without torchvision (its video processor needs it; the project's local
    backend builds it without one, `cultureclip.dataset_builder.processors`), and the real repository
    has exactly these files.
    """
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    out_dir = Path(out_dir)
    tokenizer = build_qwen_tokenizer()
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(qwen_config()).eval()
    model.generation_config = GenerationConfig(**GENERATION_IDS)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    _write_json(out_dir / "preprocessor_config.json", PREPROCESSOR_CONFIG)
    _write_json(out_dir / "chat_template.json", {"chat_template": CHAT_TEMPLATE})
    differs = {
        "text_config": {k: TEXT_CONFIG[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers")}
        | {"num_attention_heads": 2, "num_key_value_heads": 1, "mrope_section": [2, 3, 3]},
        "vision_config": {k: VISION_CONFIG[k] for k in ("depth", "hidden_size", "intermediate_size", "num_heads")}
        | {"fullatt_block_indexes": VISION_CONFIG["fullatt_block_indexes"]},
        "tokenizer": f"{LEARNT_VOCAB} byte-level BPE tokens learnt from the project's text (real: 151643); "
        "the special tokens keep their real ids",
    }
    write_replica_record(out_dir, MIRRORS, seed, differs)
    return out_dir


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_replica_record(out_dir: Path, mirrors: str, seed: int, differs: dict) -> None:
    """``replica.json``: the checkpoint a replica mirrors, its seed and what differs from it."""
    record = {
        "mirrors": mirrors,
        "weights": "random (seeded): plumbing, no quality",
        "seed": seed,
        "differs": differs,
        "same": "everything else: architecture class and options, token ids, special tokens, "
        "templates, processor settings, file layout",
    }
    _write_json(out_dir / "replica.json", record)
