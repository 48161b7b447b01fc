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

import functools

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


def _in_float32(forward):
    """Run ``forward`` in float32 with autocast off: lower-precision floating tensors are upcast."""

    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):
        args = [_upcast(value) for value in args]
        kwargs = {name: _upcast(value) for name, value in kwargs.items()}
        device = next(v.device.type for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor))
        with torch.autocast(device_type=device, enabled=False):
            return forward(self, *args, **kwargs)

    return wrapper


def _upcast(value):
    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float64:
        return value.float()
    return value


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
            Processes may hold different numbers of rows (an uneven last batch).

    The loss is computed in float32 with autocast off, whatever the caller's precision: under bf16
    autocast, logits up to 100 would move in steps of 0.5 and blur the twin margins.

    Returns (from `forward`): a dict with ``"loss"`` and each active term (``"caption_loss"``,
    ``"concept_loss"``), all scalar tensors; nothing is synchronised to the host but, across
    processes, each process's row count.
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
        self._sizes: tuple[int, ...] | None = None  # every process's row count, while gathering

    @_in_float32
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
        self._sizes = _shard_sizes(pos_image_embeds) if self.gather_across_devices and _distributed() else None
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
        if self._sizes is None:
            return x
        return _AllGatherWithGrad.apply(x, self._sizes)

    def _ids(self, name: str, masked: bool, pos_ids, neg_ids):
        """The (gathered) ids of the ``name`` texts, or ``(None, None)`` when duplicates are not masked."""
        if not masked:
            return None, None
        if pos_ids is None or neg_ids is None:
            raise ValueError(
                f"mask_duplicate_{name}s=True needs pos_{name}_ids and neg_{name}_ids (integer ids, equal id = "
                f"same {name}; DataCollatorForCulTwin provides them); pass them or set mask_duplicate_{name}s=False."
            )
        if self._sizes is None:
            return pos_ids, neg_ids
        return _all_gather(pos_ids, self._sizes), _all_gather(neg_ids, self._sizes)


class _AllGatherWithGrad(torch.autograd.Function):
    """All-gather along the batch with autograd: backward sums every process's gradient of the
    gathered features and hands each process its own rows with one reduce-scatter, so each process's
    features get the gradient of the global loss (open_clip's ``gather_with_grad``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
        ctx.sizes = sizes
        return _all_gather(x, sizes)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        import torch.distributed as dist

        sizes, longest = ctx.sizes, max(ctx.sizes)
        padded = grad.contiguous()
        if min(sizes) < longest:
            padded = grad.new_zeros(len(sizes) * longest, *grad.shape[1:])
            padded[_valid_rows(sizes, grad.device)] = grad
        mine = grad.new_empty(longest, *grad.shape[1:])
        getattr(dist, "reduce_scatter_single", dist.reduce_scatter_tensor)(mine, padded)  # renamed in torch 2.13
        return mine[: sizes[dist.get_rank()]], None


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


def _shard_sizes(x: torch.Tensor) -> tuple[int, ...]:
    """The row count of every process (they differ with an uneven last batch)."""
    import torch.distributed as dist

    sizes = torch.empty(dist.get_world_size(), dtype=torch.long, device=x.device)
    _all_gather_single(sizes, torch.tensor([x.shape[0]], device=x.device))
    return tuple(sizes.tolist())


def _all_gather(x: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """Every process's rows, in process order: padded to the longest shard for one collective, then unpadded."""
    longest = max(sizes)
    padded = x.contiguous()
    if x.shape[0] < longest:
        padded = torch.cat([padded, x.new_zeros(longest - x.shape[0], *x.shape[1:])])
    gathered = x.new_empty(len(sizes) * longest, *x.shape[1:])
    _all_gather_single(gathered, padded)
    return gathered if min(sizes) == longest else gathered[_valid_rows(sizes, x.device)]


def _all_gather_single(output: torch.Tensor, x: torch.Tensor) -> None:
    import torch.distributed as dist

    getattr(dist, "all_gather_single", dist.all_gather_into_tensor)(output, x)  # renamed in torch 2.13


def _valid_rows(sizes: tuple[int, ...], device) -> torch.Tensor:
    """Indices of the real rows in a gather padded to ``max(sizes)`` rows per process."""
    longest = max(sizes)
    return torch.cat([torch.arange(size, device=device) + rank * longest for rank, size in enumerate(sizes)])
