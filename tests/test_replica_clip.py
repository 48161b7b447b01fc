"""The openai/clip-vit-base-patch32 replica: real config values, real BPE, standard loaders."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
from clip_replica_fixtures import NARROW, captions, load_in_fresh_process

from cultureclip.testing import replica_clip
from cultureclip.testing.replica_clip import ClipReplicaShape, build_openai_clip_tokenizer, make_clip_replica


@pytest.fixture(scope="module")
def open_clip_tokenizer():
    """open_clip's ``tokenizer`` module, loaded by path (``import open_clip`` needs torchvision)."""
    spec = importlib.util.find_spec("open_clip")
    assert spec, "open_clip_torch is missing: python -m pip install --no-deps open_clip_torch"
    path = Path(spec.origin).parent / "tokenizer.py"
    module_spec = importlib.util.spec_from_file_location("open_clip_tokenizer", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tokenizer():
    return build_openai_clip_tokenizer()


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
    return make_clip_replica(tmp_path_factory.mktemp("replica") / "clip", shape=NARROW)


def _ids(tokenizer, texts):
    """Our ids laid out as open_clip returns them: 77 columns, zeros after the end token."""
    batch = tokenizer(texts, padding="max_length", truncation=True, max_length=77, return_tensors="pt")
    return batch.input_ids * batch.attention_mask


def test_same_ids_as_open_clip(tokenizer, open_clip_tokenizer):
    """1,200 varied captions. Where the ids differ, the text was normalised differently before BPE:
    open_clip runs ftfy.fix_text and html.unescape (twice), and Python's str.lower (a word-final
    capital sigma becomes ς), while transformers' CLIPTokenizer only applies NFC, whitespace
    collapsing and the ``tokenizers`` Lowercase normaliser (character by character: Σ -> σ). Fed
    open_clip's own cleaned text, our tokenizer gives open_clip's ids for every caption."""
    reference = open_clip_tokenizer.SimpleTokenizer()
    rows = captions(1200)
    texts = [text for _, text in rows]
    theirs, ours = reference(texts), _ids(tokenizer, texts)
    cleaned = _ids(tokenizer, [open_clip_tokenizer._clean_lower(text) for text in texts])
    normalizer = tokenizer.backend_tokenizer.normalizer
    differing = {}
    for i, (category, text) in enumerate(rows):
        assert cleaned[i].tolist() == theirs[i].tolist(), f"{category}: {text!r}"
        if ours[i].tolist() != theirs[i].tolist():
            # The difference comes from the normaliser: transformers' and open_clip's texts differ.
            ours_text = " ".join(normalizer.normalize_str(text).split())
            assert ours_text != open_clip_tokenizer._clean_lower(text), f"{category}: {text!r}"
            differing[category] = differing.get(category, 0) + 1
    # Only captions with HTML entities, ftfy's fixes (curly quotes, ligatures, full-width, mojibake)
    # or Greek capitals differ; every other category matches id for id.
    assert set(differing) <= {"html", "ftfy", "other_scripts"}, differing
    assert sum(differing.values()) < len(rows) // 5
    assert (theirs[:, -1] != 0).any(), "no caption reached the 77-token limit"


def test_normaliser_is_transformers_own(tokenizer):
    """The documented differences are transformers' CLIPTokenizer's, not a change of ours."""
    from transformers import CLIPTokenizer

    plain = CLIPTokenizer(vocab={"<|startoftext|>": 0, "<|endoftext|>": 1}, merges=[])._tokenizer
    saved = json.loads(tokenizer.backend_tokenizer.to_str())
    assert saved["normalizer"] == json.loads(plain.to_str())["normalizer"]
    assert saved["pre_tokenizer"] == json.loads(plain.to_str())["pre_tokenizer"]


def test_vocabulary_is_openai_simple_tokenizer(open_clip_tokenizer):
    vocab, merges = replica_clip.openai_vocab_and_merges()
    encoder = open_clip_tokenizer.SimpleTokenizer().encoder
    renamed = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    assert vocab == {renamed.get(token, token): i for token, i in encoder.items()}
    assert (len(vocab), vocab["<|startoftext|>"], vocab["<|endoftext|>"]) == (49408, 49406, 49407)
    assert len(merges) == 48894


def test_replica_folder_has_real_values(replica):
    from transformers import CLIPModel, CLIPProcessor

    model, processor = CLIPModel.from_pretrained(replica), CLIPProcessor.from_pretrained(replica)
    text, vision = model.config.text_config, model.config.vision_config
    assert (text.vocab_size, text.max_position_embeddings, text.hidden_act) == (49408, 77, "quick_gelu")
    assert (text.bos_token_id, text.eos_token_id, text.pad_token_id) == (0, 2, 1)
    assert (text.hidden_size, text.num_attention_heads, vision.hidden_size, vision.num_attention_heads) == (
        512, 8, 768, 12,
    )  # fmt: skip
    assert (vision.image_size, vision.patch_size, vision.hidden_act) == (224, 32, "quick_gelu")
    assert model.text_projection.bias is None and model.visual_projection.bias is None
    assert model.logit_scale.item() == pytest.approx(2.6592)
    tokens = processor.tokenizer
    assert (tokens.bos_token_id, tokens.eos_token_id, tokens.pad_token_id, tokens.unk_token_id) == (
        49406, 49407, 49407, 49407,
    )  # fmt: skip
    assert tokens.model_max_length == 77
    image = processor.image_processor.to_dict()
    assert image["size"] == {"shortest_edge": 224} and image["crop_size"] == {"height": 224, "width": 224}
    assert image["resample"] == 3 and image["do_center_crop"] and image["do_convert_rgb"]
    assert list(image["image_mean"]) == [0.48145466, 0.4578275, 0.40821073]
    assert list(image["image_std"]) == [0.26862954, 0.26130258, 0.27577711]
    record = json.loads((replica / "replica.json").read_text())
    assert record["mirrors"] == "openai/clip-vit-base-patch32"
    assert any("widths/depths" in line for line in record["differs"])
    vocab = json.loads((replica / "vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == 49408
    assert (replica / "merges.txt").read_text(encoding="utf-8").count("\n") == 48894 + 1


def test_text_features_pool_at_first_endoftext(replica):
    """The legacy eos_token_id 2 takes transformers' argmax(input_ids) path, as the real model does."""
    import torch
    from transformers import CLIPModel, CLIPTokenizer

    model, tokenizer = CLIPModel.from_pretrained(replica).eval(), CLIPTokenizer.from_pretrained(replica)
    batch = tokenizer(["a bowl of ramen", "a photo of a wedding in Oaxaca"], padding="max_length", return_tensors="pt")
    with torch.no_grad():
        output = model.text_model(**batch)
    first_end = (batch.input_ids == 49407).int().argmax(-1)
    expected = output.last_hidden_state[torch.arange(2), first_end]
    torch.testing.assert_close(output.pooler_output, expected)


def test_bpe_files_alone_give_the_same_ids(replica, tmp_path, tokenizer):
    """vocab.json + merges.txt (what older readers load) tokenize as tokenizer.json does."""
    from transformers import CLIPTokenizer

    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((replica / name).read_bytes())
    texts = [text for _, text in captions(200)]
    assert _ids(CLIPTokenizer.from_pretrained(tmp_path), texts).tolist() == _ids(tokenizer, texts).tolist()


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_bytes_for_same_seed(replica, tmp_path):
    assert _digest(make_clip_replica(tmp_path / "again", shape=NARROW)) == _digest(replica)
    other = _digest(make_clip_replica(tmp_path / "seed1", seed=1, shape=NARROW))
    assert other["model.safetensors"] != _digest(replica)["model.safetensors"]


def test_missing_open_clip_is_one_line_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps open_clip_torch") as error:
        replica_clip.find_openai_bpe()
    assert "\n" not in str(error.value)


def test_wrong_bpe_file_is_rejected(tmp_path):
    import gzip

    path = tmp_path / "bpe.txt.gz"
    path.write_bytes(gzip.compress(b"#version\na b\n"))
    with pytest.raises(ValueError, match="not OpenAI's CLIP BPE"):
        replica_clip.openai_vocab_and_merges(path)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"text_width": 500}, "text_width=500"),
        ({"vision_layers": 0}, "vision_layers"),
        ({"projection_dim": 0}, "projection"),
    ],
)
def test_bad_shapes_are_rejected(fields, message):
    with pytest.raises(ValueError, match=message):
        ClipReplicaShape(**fields)


def test_loads_with_standard_apis_in_fresh_process(replica):
    load_in_fresh_process(replica)


@pytest.mark.slow
def test_full_vit_b32_replica_loads_in_fresh_process(tmp_path):
    path = make_clip_replica(tmp_path / "clip")
    assert json.loads((path / "replica.json").read_text())["differs"] == ["weights: random (seeded), not trained"]
    load_in_fresh_process(path)
