"""A random-weight replica of ``stabilityai/stable-diffusion-3.5-large-turbo`` (the paper's image model).

A ``StableDiffusion3Pipeline`` folder laid out like the Hub repository (``model_index.json``,
``transformer``, ``vae``, ``text_encoder`` / ``text_encoder_2`` / ``text_encoder_3``, ``tokenizer`` /
``tokenizer_2`` / ``tokenizer_3``, ``scheduler``) with the real classes and the options that change
behaviour: a patch-2 MMDiT with 16 latent channels, RMS qk-norm, no dual-attention layers and the
real 192-patch position table; a VAE with 16 latent channels, 8x down-sampling, SD3's scaling and
shift factors and no quant convolutions; two CLIP text encoders with projection (pooled outputs
concatenated, hidden states zero-padded to the T5 width, as in the real model), CLIP's real special
ids (49406/49407 in a 49408-row embedding, legacy ``eos_token_id`` 2 so the text features pool at
the largest id) and ``tokenizer_2`` padding with ``!``; a T5 encoder (gated GELU) with a Unigram
tokenizer (pad 0, ``</s>`` 1, ``<unk>`` 2, 100 sentinels at the end); and the flow-matching Euler
scheduler with shift 3. Widths, depths and the learnt vocabularies are small.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from .replica_qwen import write_replica_record

MIRRORS = "stabilityai/stable-diffusion-3.5-large-turbo"
CLIP_VOCAB_SIZE = 49408
CLIP_SPECIAL_IDS = {"<|startoftext|>": 49406, "<|endoftext|>": 49407}
# (hidden size, layers, heads, activation): CLIP-L is 768 wide with quick_gelu, OpenCLIP bigG 1280
# wide with gelu; the replica keeps them of different widths and activations
CLIP_ENCODERS = {"text_encoder": (32, 2, 4, "quick_gelu"), "text_encoder_2": (48, 2, 4, "gelu")}
T5_WIDTH = 128  # the real T5-XXL is 4096 wide, twice the concatenated CLIP width (768 + 1280)
T5_PIECES = 1000
TRANSFORMER = {
    "sample_size": 128,
    "patch_size": 2,
    "in_channels": 16,
    "out_channels": 16,
    "num_layers": 2,
    "attention_head_dim": 16,
    "num_attention_heads": 2,
    "caption_projection_dim": 32,
    "joint_attention_dim": T5_WIDTH,
    "pooled_projection_dim": sum(width for width, *_ in CLIP_ENCODERS.values()),
    "pos_embed_max_size": 192,
    "qk_norm": "rms_norm",
    "dual_attention_layers": (),
}
VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (8, 8, 8, 8),
    "layers_per_block": 1,
    "latent_channels": 16,
    "norm_num_groups": 4,
    "sample_size": 1024,
    "scaling_factor": 1.5305,
    "shift_factor": 0.0609,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
    "force_upcast": True,
}
SCHEDULER = {"num_train_timesteps": 1000, "shift": 3.0}


def build_sd3_clip_tokenizer(pad_token: str):
    """CLIP's BPE layout (bytes, bytes + ``</w>``, merges) learnt on the project's text, with the
    real ``<|startoftext|>`` / ``<|endoftext|>`` ids at the end of the 49408-id range."""
    import json

    from transformers import CLIPTokenizer

    from .tiny_models import build_clip_tokenizer

    small = build_clip_tokenizer(vocab_size=1024)
    model = json.loads(small._tokenizer.to_str())["model"]
    learnt = sorted((i, t) for t, i in model["vocab"].items() if t not in CLIP_SPECIAL_IDS)
    vocab = {token: new_id for new_id, (_, token) in enumerate(learnt)} | CLIP_SPECIAL_IDS
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return CLIPTokenizer(vocab=vocab, merges=merges, pad_token=pad_token, model_max_length=77)


def build_t5_tokenizer(pieces: int = T5_PIECES):
    """A ``T5Tokenizer`` (Unigram, Metaspace) whose pieces are the project text's characters and most
    frequent words, scored by their log frequency; T5's layout of special and sentinel ids."""
    from transformers import T5Tokenizer

    from .tiny_models import tokenizer_corpus

    words, chars = Counter(), Counter()
    for line in tokenizer_corpus():
        for word in line.split():
            words["\u2581" + word] += 1
            chars.update("\u2581" + word)
    total = sum(words.values()) + sum(chars.values())
    chosen = sorted(chars.items()) + sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:pieces]
    seen, scored = set(), []
    for piece, count in chosen:
        if piece not in seen:
            seen.add(piece)
            scored.append((piece, math.log(count / total)))
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *scored]
    vocab += [(f"<extra_id_{i}>", 0.0) for i in range(99, -1, -1)]
    return T5Tokenizer(vocab=vocab, extra_ids=100, model_max_length=512)


def _clip_encoder(width: int, layers: int, heads: int, activation: str):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=width,
        intermediate_size=4 * width,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        hidden_act=activation,
        projection_dim=width,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    )
    return CLIPTextModelWithProjection(config)


def _t5_encoder(vocab_size: int):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size,
        d_model=T5_WIDTH,
        d_ff=2 * T5_WIDTH,
        d_kv=32,
        num_layers=2,
        num_heads=4,
        feed_forward_proj="gated-gelu",
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        layer_norm_epsilon=1e-6,
        tie_word_embeddings=False,
    )
    return T5EncoderModel(config)


def make_sd3_replica(out_dir: str | Path, seed: int = 0) -> Path:
    """Writes the replica pipeline to ``out_dir`` (``StableDiffusion3Pipeline.save_pretrained``) and a
    ``replica.json`` saying what it mirrors and what differs."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    tokenizer_3 = build_t5_tokenizer()
    torch.manual_seed(seed)
    encoders = {name: _clip_encoder(*shape) for name, shape in CLIP_ENCODERS.items()}
    pipe = StableDiffusion3Pipeline(
        transformer=SD3Transformer2DModel(**TRANSFORMER),
        vae=AutoencoderKL(**VAE),
        text_encoder=encoders["text_encoder"],
        text_encoder_2=encoders["text_encoder_2"],
        text_encoder_3=_t5_encoder(len(tokenizer_3)),
        tokenizer=build_sd3_clip_tokenizer(pad_token="<|endoftext|>"),
        tokenizer_2=build_sd3_clip_tokenizer(pad_token="!"),
        tokenizer_3=tokenizer_3,
        scheduler=FlowMatchEulerDiscreteScheduler(**SCHEDULER),
    )
    out_dir = Path(out_dir)
    pipe.save_pretrained(out_dir)
    differs = {
        "transformer": {k: TRANSFORMER[k] for k in ("num_layers", "num_attention_heads", "attention_head_dim")}
        | {k: TRANSFORMER[k] for k in ("caption_projection_dim", "joint_attention_dim", "pooled_projection_dim")},
        "vae": {"block_out_channels": list(VAE["block_out_channels"]), "layers_per_block": 1, "norm_num_groups": 4},
        "text_encoder, text_encoder_2": "hidden sizes 32 and 48, 2 layers (real: 768 and 1280, 12 and 32 layers)",
        "text_encoder_3": f"T5 {T5_WIDTH} wide, 2 layers, {len(tokenizer_3)} ids (real: 4096, 24 layers, 32128)",
        "tokenizers": "CLIP BPE with 1022 learnt tokens (real: 49406), T5 Unigram with the project's "
        "characters and words (real: 32000 SentencePiece pieces, NFKC-style normaliser)",
    }
    write_replica_record(out_dir, MIRRORS, seed, differs)
    return out_dir
