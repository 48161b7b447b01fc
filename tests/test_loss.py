"""CultureCLIPLoss against a hand computation of the published formulas, row by row."""

import math

import pytest
import torch

from cultureclip.modeling import CultureCLIPLoss
from cultureclip.modeling.loss import BOTH_SIDES, LOSS_TYPES, PUBLIC_LOSS_TYPES

B, D, SCALE = 5, 8, 7.0


def _features(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(B, D, generator=generator) for _ in range(6)]


def _unit(x):
    return [[v / math.sqrt(sum(c * c for c in row)) for v in row] for row in x.tolist()]


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def _ce(logits, target, dropped=()):
    kept = [value for j, value in enumerate(logits) if j == target or j not in dropped]
    return -logits[target] + math.log(sum(math.exp(v) for v in kept))


def _dropped(anchor_ids, column_ids, i):
    if anchor_ids is None:
        return set()
    return {j for j, cid in enumerate(column_ids) if cid == anchor_ids[i]}


def hand_clip(images, texts, ids=None):
    images, texts = _unit(images), _unit(texts)
    per_text = [
        _ce([SCALE * _dot(t, im) for im in images], i, _dropped(ids, ids or [], i)) for i, t in enumerate(texts)
    ]
    per_image = [
        _ce([SCALE * _dot(im, t) for t in texts], i, _dropped(ids, ids or [], i)) for i, im in enumerate(images)
    ]
    return (sum(per_text) / B + sum(per_image) / B) / 2


def hand_negclip(images, texts, hard, ids=None, hard_ids=None):
    images, texts, hard = _unit(images), _unit(texts), _unit(hard)
    columns = texts + hard
    column_ids = (ids + hard_ids) if ids else None
    i2t = [_ce([SCALE * _dot(im, t) for t in columns], i, _dropped(ids, column_ids, i)) for i, im in enumerate(images)]
    t2i = [_ce([SCALE * _dot(t, im) for im in images], i, _dropped(ids, ids or [], i)) for i, t in enumerate(texts)]
    return (sum(i2t) / B + sum(t2i) / B) / 2


def _public_formulas():
    """The public code's nine losses, written out one by one (plain CLIP terms: positive side only)."""

    def l_caption(f):
        return hand_negclip(f.i_pos, f.c_pos, f.c_neg, *f.cap_ids) + hand_negclip(
            f.i_neg, f.c_neg, f.c_pos, *f.cap_ids[::-1]
        )

    def l_concept(f):
        return hand_negclip(f.i_pos, f.k_pos, f.k_neg, *f.con_ids) + hand_negclip(
            f.i_neg, f.k_neg, f.k_pos, *f.con_ids[::-1]
        )

    def caption_clip(f):
        return hand_clip(f.i_pos, f.c_pos, f.cap_ids[0])

    def concept_clip(f):
        return hand_clip(f.i_pos, f.k_pos, f.con_ids[0])

    return {
        "clip": lambda f: {"caption_loss": caption_clip(f)},
        "caption_clip": lambda f: {"caption_loss": caption_clip(f)},
        "concept_clip": lambda f: {"concept_loss": concept_clip(f)},
        "caption_negclip": lambda f: {"caption_loss": l_caption(f)},
        "concept_negclip": lambda f: {"concept_loss": l_concept(f)},
        "caption_concept_clip": lambda f: {"caption_loss": caption_clip(f), "concept_loss": concept_clip(f)},
        "caption_neg_concept_clip": lambda f: {"caption_loss": l_caption(f), "concept_loss": concept_clip(f)},
        "caption_concept_neg": lambda f: {"caption_loss": caption_clip(f), "concept_loss": l_concept(f)},
        "cultureclip": lambda f: {"caption_loss": l_caption(f), "concept_loss": l_concept(f)},
    }


def _both_sides_formulas():
    """Our both-sides versions: each plain CLIP term of the public variant plus the twin's side."""

    def caption_clip(f):
        return hand_clip(f.i_pos, f.c_pos, f.cap_ids[0]) + hand_clip(f.i_neg, f.c_neg, f.cap_ids[1])

    def concept_clip(f):
        return hand_clip(f.i_pos, f.k_pos, f.con_ids[0]) + hand_clip(f.i_neg, f.k_neg, f.con_ids[1])

    public = _public_formulas()
    return {
        "caption_clip_both_sides": lambda f: {"caption_loss": caption_clip(f)},
        "concept_clip_both_sides": lambda f: {"concept_loss": concept_clip(f)},
        "caption_concept_clip_both_sides": lambda f: {
            "caption_loss": caption_clip(f),
            "concept_loss": concept_clip(f),
        },
        "caption_neg_concept_clip_both_sides": lambda f: {
            "caption_loss": public["cultureclip"](f)["caption_loss"],
            "concept_loss": concept_clip(f),
        },
        "caption_concept_neg_both_sides": lambda f: {
            "caption_loss": caption_clip(f),
            "concept_loss": public["cultureclip"](f)["concept_loss"],
        },
    }


class _Features:
    def __init__(self, features, concept_ids=(None, None), caption_ids=(None, None)):
        self.i_pos, self.i_neg, self.c_pos, self.c_neg, self.k_pos, self.k_neg = features
        self.con_ids, self.cap_ids = concept_ids, caption_ids


def hand_loss(loss_type, features, lambdas=(0.7, 0.3), ids=(None, None), caption_ids=(None, None)):
    formulas = {**_public_formulas(), **_both_sides_formulas()}
    terms = formulas[loss_type](_Features(features, ids, caption_ids))
    if len(terms) == 2:
        terms["loss"] = lambdas[0] * terms["caption_loss"] + lambdas[1] * terms["concept_loss"]
    else:
        terms["loss"] = next(iter(terms.values()))
    return terms


def test_the_nine_public_names_and_our_both_sides_versions():
    assert sorted(PUBLIC_LOSS_TYPES) == sorted(_public_formulas())
    assert sorted(LOSS_TYPES) == sorted({**_public_formulas(), **_both_sides_formulas()})


@pytest.mark.parametrize("loss_type", sorted(LOSS_TYPES))
def test_each_variant_matches_the_hand_computation_without_mask(loss_type):
    features = _features()
    loss = CultureCLIPLoss(
        loss_type, lambda_caption=0.4, lambda_concept=0.6, mask_duplicate_concepts=False, mask_duplicate_captions=False
    )
    out = loss(*features, logit_scale=torch.tensor(SCALE))
    expected = hand_loss(loss_type, features, (0.4, 0.6))
    assert set(out) == set(expected)
    for name, value in expected.items():
        assert out[name].item() == pytest.approx(value, rel=1e-5), name


@pytest.mark.parametrize("loss_type", sorted(LOSS_TYPES))
def test_each_variant_matches_the_hand_computation_with_both_masks(loss_type):
    features = _features(5)
    concept_ids = [1, 1, 1, 2, 3], [11, 11, 11, 1, 13]
    caption_ids = [7, 8, 7, 9, 10], [20, 21, 20, 23, 24]
    tensors = [torch.tensor(ids) for ids in (*concept_ids, *caption_ids)]
    out = CultureCLIPLoss(loss_type)(*features, torch.tensor(SCALE), *tensors)
    expected = hand_loss(loss_type, features, ids=concept_ids, caption_ids=caption_ids)
    for name, value in expected.items():
        assert out[name].item() == pytest.approx(value, rel=1e-5), name


def test_plain_clip_terms_ignore_the_twin_side():
    """Public formulas: clip, caption_clip, concept_clip, caption_concept_clip never see I_neg or T_neg."""
    features = _features(6)
    changed = [*features[:1], torch.randn(B, D), *features[2:3], torch.randn(B, D), *features[4:5], torch.randn(B, D)]
    plain = {"mask_duplicate_concepts": False, "mask_duplicate_captions": False}
    for loss_type in ("clip", "caption_clip", "concept_clip", "caption_concept_clip"):
        a = CultureCLIPLoss(loss_type, **plain)(*features, torch.tensor(SCALE))["loss"]
        b = CultureCLIPLoss(loss_type, **plain)(*changed, torch.tensor(SCALE))["loss"]
        torch.testing.assert_close(a, b)
        both = CultureCLIPLoss(f"caption_concept_clip{BOTH_SIDES}", **plain)
        assert both(*features, torch.tensor(SCALE))["loss"] != both(*changed, torch.tensor(SCALE))["loss"]


@pytest.mark.parametrize("loss_type", ["cultureclip", "caption_concept_clip", "caption_concept_neg"])
def test_duplicate_concepts_are_not_each_others_negatives(loss_type):
    features = _features(1)
    # Rows 0-2 share a concept pair (A, A'); row 3's twin is concept A itself.
    pos_ids, neg_ids = [1, 1, 1, 2, 3], [11, 11, 11, 1, 13]
    loss = CultureCLIPLoss(loss_type, lambda_caption=0.4, lambda_concept=0.6, mask_duplicate_captions=False)
    out = loss(*features, torch.tensor(SCALE), torch.tensor(pos_ids), torch.tensor(neg_ids))
    expected = hand_loss(loss_type, features, (0.4, 0.6), (pos_ids, neg_ids))
    assert out["concept_loss"].item() == pytest.approx(expected["concept_loss"], rel=1e-5)
    assert out["loss"].item() == pytest.approx(expected["loss"], rel=1e-5)
    plain = {"mask_duplicate_concepts": False, "mask_duplicate_captions": False}
    unmasked = CultureCLIPLoss(loss_type, **plain)(*features, torch.tensor(SCALE))
    assert unmasked["concept_loss"].item() > out["concept_loss"].item()


@pytest.mark.parametrize("loss_type", ["clip", "caption_clip", "cultureclip"])
def test_duplicate_captions_are_not_each_others_negatives(loss_type):
    features = _features(4)
    # Rows 0 and 2 hold the same positive caption (and image: it is one generated image per caption).
    for index in (0, 2):
        features[index][2] = features[index][0]
    caption_ids = [7, 8, 7, 9, 10], [20, 21, 22, 23, 24]
    concept_ids = list(range(B)), [100 + i for i in range(B)]
    tensors = [torch.tensor(ids) for ids in (*concept_ids, *caption_ids)]
    out = CultureCLIPLoss(loss_type)(*features, torch.tensor(SCALE), *tensors)
    expected = hand_loss(loss_type, features, ids=concept_ids, caption_ids=caption_ids)
    assert out["caption_loss"].item() == pytest.approx(expected["caption_loss"], rel=1e-5)
    unmasked = CultureCLIPLoss(loss_type, mask_duplicate_captions=False)(*features, torch.tensor(SCALE), *tensors[:2])
    assert unmasked["caption_loss"].item() > out["caption_loss"].item()


def test_identical_rows_have_no_loss_floor_with_the_caption_mask():
    """Aligned one-hot features: without the mask, the duplicated rows leave a loss floor."""
    eye = torch.eye(4)
    images, captions = eye[[0, 0, 1, 2]], eye[[0, 0, 1, 2]]  # rows 0 and 1: the same caption and image
    twin_images, twin_captions = eye[[3, 3, 3, 3]] * -1, eye[[3, 3, 3, 3]] * -1
    args = (images, twin_images, captions, twin_captions, None, None, torch.tensor(100.0))
    caption_ids = {"pos_caption_ids": torch.tensor([5, 5, 6, 7]), "neg_caption_ids": torch.tensor([8, 8, 8, 8])}
    masked = CultureCLIPLoss("caption_negclip")(*args, **caption_ids)
    plain = CultureCLIPLoss("caption_negclip", mask_duplicate_captions=False)(*args)
    assert masked["caption_loss"].item() < 1e-3 < plain["caption_loss"].item()


def test_unique_texts_make_the_masks_a_no_op():
    features = _features(2)
    ids = torch.arange(B), torch.arange(B) + 100
    masked = CultureCLIPLoss()(*features, torch.tensor(SCALE), *ids, *ids)
    plain = CultureCLIPLoss(mask_duplicate_concepts=False, mask_duplicate_captions=False)(
        *features, torch.tensor(SCALE)
    )
    torch.testing.assert_close(masked["loss"], plain["loss"])


def test_clip_equals_transformers_clip_loss(tiny_models):
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(tiny_models["clip"]).eval()
    processor = CLIPProcessor.from_pretrained(tiny_models["clip"])
    texts = ["a red dumpling", "a bowed string instrument", "a wrap garment"]
    images = [Image.new("RGB", (32, 32), colour) for colour in ("red", "green", "blue")]
    inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
    with torch.no_grad():
        reference = model(**inputs, return_loss=True).loss
        image = model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output
        text = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        text = text.pooler_output
        ours = CultureCLIPLoss("clip", mask_duplicate_captions=False)(
            image, image, text, text, None, None, model.logit_scale.exp()
        )
    torch.testing.assert_close(ours["loss"], reference)


def test_gradients_reach_every_input_and_the_scale():
    features = [x.requires_grad_() for x in _features(3)]
    scale = torch.tensor(SCALE, requires_grad=True)
    ids = torch.arange(B), torch.arange(B) + B
    CultureCLIPLoss()(*features, scale, *ids, *ids)["loss"].backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in [*features, scale])


def test_bad_arguments_say_how_to_fix_them():
    with pytest.raises(ValueError, match="loss_type 'negclip'"):
        CultureCLIPLoss("negclip")
    with pytest.raises(ValueError, match="mask_duplicate_captions=True needs pos_caption_ids and neg_caption_ids"):
        CultureCLIPLoss()(*_features(), torch.tensor(SCALE), torch.arange(B), torch.arange(B))
    with pytest.raises(ValueError, match="mask_duplicate_concepts=True needs pos_concept_ids and neg_concept_ids"):
        CultureCLIPLoss(mask_duplicate_captions=False)(*_features(), torch.tensor(SCALE))
    with pytest.raises(ValueError, match="needs pos_concept_embeds"):
        CultureCLIPLoss("concept_clip")(*_features()[:4], None, None, torch.tensor(SCALE))


def test_the_loss_is_computed_in_float32_under_bf16_autocast():
    """Under bf16 autocast, logits up to 100 would move in steps of 0.5; the loss upcasts and turns autocast off."""
    features, scale = _features(), torch.tensor(100.0)
    loss_fn = CultureCLIPLoss(mask_duplicate_concepts=False, mask_duplicate_captions=False)
    reference = loss_fn(*features, logit_scale=scale)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = loss_fn(*features, logit_scale=scale)
    assert all(value.dtype == torch.float32 for value in under_autocast.values())
    torch.testing.assert_close(under_autocast, reference, rtol=0, atol=0)

    # bf16 features (a bf16 model's outputs) give the float32 loss of the same values, and bf16 gradients.
    half = [x.bfloat16().requires_grad_() for x in features]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_fn(*half, logit_scale=scale.bfloat16())["loss"]
    expected = loss_fn(*[x.detach().float() for x in half], logit_scale=scale)["loss"]
    torch.testing.assert_close(loss, expected, rtol=0, atol=0)
    loss.backward()
    assert half[0].grad.dtype == torch.bfloat16 and half[0].grad.abs().sum() > 0
