"""Zero-shot image classification on any labelled image dataset (general ability retention).

Each class is the mean of its prompt embeddings over a template set (CLIP's 80 ImageNet prompts by
default), re-normalised; each image is assigned the most similar class. Reports top-1
(``accuracy``) and top-5, and per-group top-1 when a group column (region, income level, ...) is
given, as in GeoDE or Dollar Street.
"""

from __future__ import annotations

from ..dataset_io import require_columns
from ..metrics import recall_at_k
from ..scoring import Context, group_accuracy
from ..templates import TEMPLATE_SETS

DATASET = None
SPLIT = "test"
COLUMNS = {"image_column": "image", "label_column": "label"}
OPTIONS = {"group_column": None, "templates": "openai", "classnames": None}


def class_names(context: Context) -> list[str]:
    """The class names (at least two): the ``classnames`` option, else the label column's ``ClassLabel`` names."""
    names = _given_class_names(context)
    if len(names) < 2:
        raise ValueError(
            f"Zero-shot classification needs at least two classes, got {names}: with one, every image is "
            "'correct'. Give every class name (classnames=[...]) or evaluate a dataset with several labels."
        )
    return names


def _given_class_names(context: Context) -> list[str]:
    names, feature = context.options["classnames"], context.dataset.features[context.options["label_column"]]
    if names is not None:
        if isinstance(names, str) or not all(isinstance(name, str) for name in names) or not names:
            raise ValueError(
                f"classnames={names!r} must be a list of class names, one per label id "
                "(on the command line --option zeroshot.classnames=\"['cat', 'dog']\")."
            )
        if hasattr(feature, "names") and len(names) != len(feature.names):
            raise ValueError(
                f"classnames has {len(names)} names but the label column has {len(feature.names)} classes "
                f"({feature.names}); give one name per label id."
            )
        return list(names)
    if not hasattr(feature, "names"):
        raise ValueError(
            f"Label column {context.options['label_column']!r} is {feature}, not a ClassLabel; pass "
            "classnames=[...] (the name of each label id) or cast the column to ClassLabel."
        )
    return list(feature.names)


def templates(name_or_list) -> list[str]:
    if isinstance(name_or_list, str):
        if name_or_list not in TEMPLATE_SETS:
            raise ValueError(f"Unknown template set templates={name_or_list!r}; choose {sorted(TEMPLATE_SETS)}.")
        return list(TEMPLATE_SETS[name_or_list])
    if not name_or_list or any("{}" not in template for template in name_or_list):
        raise ValueError("templates must be a non-empty list of prompts, each with a '{}' for the class name.")
    return list(name_or_list)


def run(context: Context) -> dict:
    import torch

    options, dataset = context.options, context.dataset
    if options["group_column"] is not None:
        require_columns(dataset, {"group_column": options["group_column"]}, "zeroshot")
    classes, prompts = class_names(context), templates(options["templates"])
    texts = context.text_embeddings(prompt.format(name) for name in classes for prompt in prompts)
    weights = torch.stack(
        [torch.stack([texts[prompt.format(name)] for prompt in prompts]).mean(dim=0) for name in classes]
    )
    weights = torch.nn.functional.normalize(weights, dim=-1)
    keys = context.index_images(options["image_column"]).keys
    images = context.image_embeddings(keys)
    labels = list(dataset[options["label_column"]])
    bad = next(((row, label) for row, label in enumerate(labels) if label not in range(len(classes))), None)
    if bad is not None:
        raise ValueError(
            f"Row {bad[0]} has label {bad[1]!r}, not a class index in 0..{len(classes) - 1} ({len(classes)} "
            f"classes); unlabelled rows (-1) cannot be scored: evaluate a labelled split (split=...)."
        )
    groups = list(dataset[options["group_column"]]) if options["group_column"] else [None] * len(keys)
    items = []
    for row, (key, label, group) in enumerate(zip(keys, labels, groups)):
        if key in images:
            top = (weights @ images[key]).topk(min(5, len(classes))).indices.tolist()
            fields = {"row": row} | ({"group": group} if options["group_column"] else {})
            items.append({"image": key, "correct_idx": label, "predicted_idx": top[0], "top5": top, "fields": fields})
    if not items:
        raise ValueError("No image could be scored: every image is unreadable (see unreadable_images).")
    topk = recall_at_k([item["top5"] for item in items], [[item["correct_idx"]] for item in items], k=(1, 5))
    correct = sum(item["predicted_idx"] == item["correct_idx"] for item in items)
    return {
        "accuracy": topk["recall@1"],
        "correct": correct,
        "total": len(items),
        "top5_accuracy": topk["recall@5"],
        "classes": classes,
        "templates": prompts,
        "groups": group_accuracy(items, ("group",)) if options["group_column"] else {},
        "skipped": len(keys) - len(items),
        "unreadable_images": context.unreadable_report(keys),
        "items": items,
    }
