"""Image-text retrieval on any captioned image dataset: Recall@1/5/10 in both directions.

Each row is an image with one caption or a list of captions. Image->text: a hit at k when any of
the image's captions is among the k most similar captions; text->image: when the caption's image is
among the k most similar images. The headline ``accuracy`` (with ``correct`` / ``total``) is
image->text Recall@1.

Rows with identical image bytes are, by default, separate gallery items with tied scores, as in
CLIP_benchmark (a caption then finds its row's image or its twin first, as ``torch.topk`` breaks
the tie); ``merge_identical_images=True`` makes them one item holding every caption of those rows.
"""

from __future__ import annotations

from ..metrics import recall_at_k
from ..scoring import Context

DATASET = None
SPLIT = "test"
COLUMNS = {"image_column": "image", "caption_column": "caption"}
OPTIONS: dict = {"merge_identical_images": False}
CUTOFFS = (1, 5, 10)


def gallery(keys: list[str], readable: set[str], merge: bool) -> list[tuple[str, list[int]]]:
    """The gallery items ``(image key, rows)``: one per readable row, or one per distinct image when ``merge``."""
    items: dict = {}
    for row, key in enumerate(keys):
        if key in readable:
            items.setdefault(key if merge else row, (key, []))[1].append(row)
    return list(items.values())


def run(context: Context) -> dict:
    import torch

    options, dataset = context.options, context.dataset
    merge = options["merge_identical_images"]
    if not isinstance(merge, bool):
        raise ValueError(
            f"merge_identical_images={merge!r} must be True or False "
            "(on the command line --option retrieval.merge_identical_images=True)."
        )
    keys = context.index_images(options["image_column"]).keys
    embedded = context.image_embeddings(keys)
    captions = [[value] if isinstance(value, str) else list(value) for value in dataset[options["caption_column"]]]
    images = gallery(keys, set(embedded), merge)
    item_of = {row: item for item, (_, rows) in enumerate(images) for row in rows}
    pairs = [(text, item_of[row]) for row in sorted(item_of) for text in captions[row]]  # captions in dataset order
    if not pairs:
        raise ValueError("No image could be scored: every image is unreadable (see unreadable_images).")
    texts = context.text_embeddings(text for text, _ in pairs)
    text_matrix = torch.stack([texts[text] for text, _ in pairs])
    similarity = torch.stack([embedded[key] for key, _ in images]) @ text_matrix.T
    captions_of = [[] for _ in images]
    for caption_id, (_, image) in enumerate(pairs):
        captions_of[image].append(caption_id)
    depth = max(CUTOFFS)
    image_to_text = recall_at_k(similarity.topk(min(depth, len(pairs)), dim=1).indices.tolist(), captions_of, CUTOFFS)
    text_to_image = recall_at_k(
        similarity.T.topk(min(depth, len(images)), dim=1).indices.tolist(), [[image] for _, image in pairs], CUTOFFS
    )
    top1 = similarity.argmax(dim=1).tolist()
    items = [
        {
            "image": key,
            "rows": rows,
            "caption_ids": captions_of[item],
            "predicted_caption_id": top1[item],
            "fields": {},
        }
        for item, (key, rows) in enumerate(images)
    ]
    correct = sum(item["predicted_caption_id"] in item["caption_ids"] for item in items)
    return {
        "accuracy": image_to_text["recall@1"],
        "correct": correct,
        "total": len(images),
        **{f"image_to_text_{name}": value for name, value in image_to_text.items() if name != "total"},
        **{f"text_to_image_{name}": value for name, value in text_to_image.items() if name != "total"},
        "captions": [text for text, _ in pairs],
        "groups": {},
        "skipped": sum(1 for key in keys if key not in embedded),
        "unreadable_images": context.unreadable_report(keys),
        "items": items,
    }
