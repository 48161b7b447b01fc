"""The twin-aware contrastive loss of CultureCLIP and its ablation variants.

Notation: ``I`` image features, ``T`` text features (both L2-normalised here), ``s`` the
exponentiated logit scale, ``B`` rows per batch. Every CulTwin row has a positive concept and its
twin (the negative): an image, a caption and a concept name for each.

* ``clip(I, T)``: transformers' ``clip_loss`` on ``s * T @ I.T`` (mean of the B-way text->image
  and image->text cross-entropies).
* ``negclip(I, T, T_hard)``: image->text cross-entropy over the 2B logits
  ``[s * I @ T.T | s * I @ T_hard.T]`` (target: the diagonal of the first block), text->image the
  ordinary B-way cross-entropy over ``s * T @ I.T``; the two are averaged.
* ``L_caption = negclip(I_pos, T_poscap, T_negcap) + negclip(I_neg, T_negcap, T_poscap)``: the twin's
  image is an anchor too, with the original's caption as its hard negative; ``L_concept`` likewise
  with the concept names.
* The nine public variants (`PUBLIC_LOSS_TYPES`) combine these with plain CLIP terms on the
  positive side only, e.g. ``caption_concept_neg = lambda_caption * clip(I_pos, T_poscap) +
  lambda_concept * L_concept``; ours (suffix `BOTH_SIDES`) add ``clip(I_neg, T_neg)`` to each.
* ``L = lambda_caption * L_caption + lambda_concept * L_concept`` when both terms are used; a
  single-term variant's loss is its term, unweighted.

Unlike the public code, features are really L2-normalised, and a text equal to the anchor's own
is never one of its negatives: with ``mask_duplicate_concepts``, a name of the anchor's concept (in
another row of the same concept pair, or a hard-negative column whose twin happens to be the
anchor's concept); with ``mask_duplicate_captions``, the same caption in another row (each CulTwin
caption, with its image, is in 10 pairs, so a batch can hold it twice).
"""

from __future__ import annotations

import torch
from torch import nn

# loss_type -> (caption term, concept term). A term is None (unused), "clip" (CLIP on the positive
# side only: clip(I_pos, T_pos)), "clip_both_sides" (clip(I_pos, T_pos) + clip(I_neg, T_neg), twins
# never in the same softmax) or "negclip" (each side with the other side's texts as hard negatives).
PUBLIC_LOSS_TYPES: dict[str, tuple[str | None, str | None]] = {
    "clip": ("clip", None),
    "caption_clip": ("clip", None),
    "concept_clip": (None, "clip"),
    "caption_negclip": ("negclip", None),
    "concept_negclip": (None, "negclip"),
    "caption_concept_clip": ("clip", "clip"),
    "caption_neg_concept_clip": ("negclip", "clip"),
    "caption_concept_neg": ("clip", "negclip"),
    "cultureclip": ("negclip", "negclip"),
}
"""The nine variants of the public code, with its formulas: every plain CLIP term is on the positive
side only (``clip`` and ``caption_clip`` are the same loss, the no-twin baseline)."""

BOTH_SIDES = "_both_sides"
"""Suffix of our own variants (not in the public code): each plain CLIP term of the public variant is
computed on both sides, so every variant trains on the twin's images too; a fairer baseline for the
hard-negative variants, which see both sides."""

LOSS_TYPES: dict[str, tuple[str | None, str | None]] = {
    **PUBLIC_LOSS_TYPES,
    "caption_clip" + BOTH_SIDES: ("clip_both_sides", None),
    "concept_clip" + BOTH_SIDES: (None, "clip_both_sides"),
    "caption_concept_clip" + BOTH_SIDES: ("clip_both_sides", "clip_both_sides"),
    "caption_neg_concept_clip" + BOTH_SIDES: ("negclip", "clip_both_sides"),
    "caption_concept_neg" + BOTH_SIDES: ("clip_both_sides", "negclip"),
}
"""Every accepted ``loss_type``: `PUBLIC_LOSS_TYPES` and their both-sides versions (ours)."""


class CultureCLIPLoss(nn.Module):
    """CultureCLIP's objective: contrastive terms on captions and concept names with the twin as hard negative.

    Args:
        loss_type: one of `LOSS_TYPES` (``"cultureclip"`` is the full loss of the paper).
        lambda_caption: weight of the caption term (the released run uses 0.7).
        lambda_concept: weight of the concept term (the released run uses 0.3).
        mask_duplicate_concepts: in the concept terms, rows that share a concept (same id) are not
            each other's negatives. The public code treats them as negatives although a batch of
            CulTwin holds up to 100 caption pairs of the same concept pair; ``False`` reproduces it.
        mask_duplicate_captions: in the caption terms, rows that share a caption (same id) are not
            each other's negatives (identical texts cannot be told apart, so the public code's
            loss has a floor there); ``False`` reproduces the public code.
        gather_across_devices: all-gather the features of every process (with gradient) so that
            each process computes the loss of the global batch: N processes with batch B give the
            loss and, after DDP's gradient averaging, the gradients of one process with batch N*B.

    Returns (from `forward`): a dict with ``"loss"`` and each active term (``"caption_loss"``,
    ``"concept_loss"``), all scalar tensors; nothing is synchronised to the host.
    """

    def __init__(
        self,
        loss_type: str = "cultureclip",
        lambda_caption: float = 0.7,
        lambda_concept: float = 0.3,
        mask_duplicate_concepts: bool = True,
        mask_duplicate_captions: bool = True,
        gather_across_devices: bool = False,
    ):
        super().__init__()
        if loss_type not in LOSS_TYPES:
            raise ValueError(f"Unknown loss_type {loss_type!r}; choose one of {sorted(LOSS_TYPES)}.")
        self.loss_type = loss_type
        self.lambda_caption = lambda_caption
        self.lambda_concept = lambda_concept
        self.mask_duplicate_concepts = mask_duplicate_concepts
        self.mask_duplicate_captions = mask_duplicate_captions
        self.gather_across_devices = gather_across_devices

    def forward(
        self,
        pos_image_embeds: torch.Tensor,
        neg_image_embeds: torch.Tensor,
        pos_caption_embeds: torch.Tensor,
        neg_caption_embeds: torch.Tensor,
        pos_concept_embeds: torch.Tensor | None,
        neg_concept_embeds: torch.Tensor | None,
        logit_scale: torch.Tensor,
        pos_concept_ids: torch.Tensor | None = None,
        neg_concept_ids: torch.Tensor | None = None,
        pos_caption_ids: torch.Tensor | None = None,
        neg_caption_ids: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Compute the loss.

        Args:
            *_embeds: ``(B, D)`` unnormalised projections (``get_*_features(...).pooler_output``).
                The concept embeddings may be ``None`` for variants without a concept term.
            logit_scale: the exponentiated scale, ``model.logit_scale.exp()``.
            pos_concept_ids, neg_concept_ids: ``(B,)`` integer ids of the concepts (equal id = same
                concept); required by the duplicate mask when the loss has a concept term.
            pos_caption_ids, neg_caption_ids: ``(B,)`` integer ids of the captions (equal id = same
                text); required by ``mask_duplicate_captions``.

        Returns:
            ``{"loss": ..., "caption_loss": ..., "concept_loss": ...}`` (the terms the variant uses).
            With both terms, ``loss = lambda_caption * caption_loss + lambda_concept * concept_loss``;
            a single-term variant's loss is its term, unweighted.
        """
        caption_kind, concept_kind = LOSS_TYPES[self.loss_type]
        texts = {"caption": (pos_caption_embeds, neg_caption_embeds)}
        if concept_kind is not None:
            if pos_concept_embeds is None or neg_concept_embeds is None:
                raise ValueError(f"loss_type={self.loss_type!r} needs pos_concept_embeds and neg_concept_embeds.")
            texts["concept"] = (pos_concept_embeds, neg_concept_embeds)
        pos_images, neg_images = (_normalize(self._gather(x)) for x in (pos_image_embeds, neg_image_embeds))

        masks = {
            "caption": (self.mask_duplicate_captions, pos_caption_ids, neg_caption_ids),
            "concept": (self.mask_duplicate_concepts, pos_concept_ids, neg_concept_ids),
        }
        terms = {}
        for name, kind in (("caption", caption_kind), ("concept", concept_kind)):
            if kind is None:
                continue
            pos_texts, neg_texts = (_normalize(self._gather(x)) for x in texts[name])
            pos_ids, neg_ids = self._ids(name, *masks[name])
            if kind == "clip":
                terms[name] = clip_loss(pos_images, pos_texts, logit_scale, pos_ids)
            elif kind == "clip_both_sides":
                terms[name] = clip_loss(pos_images, pos_texts, logit_scale, pos_ids) + clip_loss(
                    neg_images, neg_texts, logit_scale, neg_ids
                )
            else:
                terms[name] = negclip_loss(pos_images, pos_texts, neg_texts, logit_scale, pos_ids, neg_ids)
                terms[name] = terms[name] + negclip_loss(
                    neg_images, neg_texts, pos_texts, logit_scale, neg_ids, pos_ids
                )
        if len(terms) == 2:
            loss = self.lambda_caption * terms["caption"] + self.lambda_concept * terms["concept"]
        else:
            (loss,) = terms.values()
        return {"loss": loss, **{f"{name}_loss": value for name, value in terms.items()}}

    def _gather(self, x: torch.Tensor) -> torch.Tensor:
        if not self.gather_across_devices or not _distributed():
            return x
        return _AllGatherWithGrad.apply(x.contiguous())

    def _ids(self, name: str, masked: bool, pos_ids, neg_ids):
        """The (gathered) ids of the ``name`` texts, or ``(None, None)`` when duplicates are not masked."""
        if not masked:
            return None, None
        if pos_ids is None or neg_ids is None:
            raise ValueError(
                f"mask_duplicate_{name}s=True needs pos_{name}_ids and neg_{name}_ids (integer ids, equal id = "
                f"same {name}; DataCollatorForCulTwin provides them); pass them or set mask_duplicate_{name}s=False."
            )
        if not self.gather_across_devices or not _distributed():
            return pos_ids, neg_ids
        return _gather_no_grad(pos_ids), _gather_no_grad(neg_ids)


class _AllGatherWithGrad(torch.autograd.Function):
    """All-gather along the batch with autograd: backward sums every process's gradient of the
    gathered features and hands each process its own rows, so each process's features get the
    gradient of the global loss (open_clip's ``gather_with_grad``). Every process must hold the
    same number of rows, as the Trainer's distributed dataloader guarantees (``even_batches``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        ctx.rows = slice(dist.get_rank() * x.shape[0], (dist.get_rank() + 1) * x.shape[0])
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rows]


def clip_loss(
    images: torch.Tensor, texts: torch.Tensor, logit_scale: torch.Tensor, ids: torch.Tensor | None = None
) -> torch.Tensor:
    """CLIP's symmetric B-way cross-entropy on normalised features (transformers' ``clip_loss``).

    ``ids`` (optional, ``(B,)``): rows with equal ids are not each other's negatives.
    """
    logits_per_text = logit_scale * texts @ images.T
    if ids is not None:
        logits_per_text = _mask_same(logits_per_text, ids, ids)
    return (_cross_entropy_diagonal(logits_per_text) + _cross_entropy_diagonal(logits_per_text.T)) / 2


def negclip_loss(
    images: torch.Tensor,
    texts: torch.Tensor,
    hard_texts: torch.Tensor,
    logit_scale: torch.Tensor,
    ids: torch.Tensor | None = None,
    hard_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """NegCLIP: image->text over the B texts plus the B hard-negative texts (2B logits), text->image B-way.

    ``ids``/``hard_ids`` (optional): a text whose id equals the anchor's id is not a negative of it.
    """
    logits_per_image = logit_scale * images @ torch.cat((texts, hard_texts)).T
    logits_per_text = logit_scale * texts @ images.T
    if ids is not None:
        logits_per_image = _mask_same(logits_per_image, ids, torch.cat((ids, hard_ids)))
        logits_per_text = _mask_same(logits_per_text, ids, ids)
    return (_cross_entropy_diagonal(logits_per_image) + _cross_entropy_diagonal(logits_per_text)) / 2


def _cross_entropy_diagonal(logits: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits, torch.arange(logits.shape[0], device=logits.device))


def _mask_same(logits: torch.Tensor, row_ids: torch.Tensor, column_ids: torch.Tensor) -> torch.Tensor:
    """Drop (set to -inf) every column that has the row's id, except the row's own target column."""
    same = row_ids[:, None] == column_ids[None, :]
    target = torch.eye(*logits.shape, dtype=torch.bool, device=logits.device)
    return logits.masked_fill(same & ~target, float("-inf"))


def _normalize(x: torch.Tensor) -> torch.Tensor:
    # The same expression as CLIPModel.forward, so that "clip" matches transformers bit for bit.
    return x / x.norm(p=2, dim=-1, keepdim=True)


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    import torch.distributed as dist

    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)
