"""Recall@k: the fraction of queries with at least one relevant item among the top k ranked."""

import datasets
import evaluate

_DESCRIPTION = """
Recall@k for retrieval and top-k classification: a query counts as a hit at k when any of its
relevant ids is among the first k ids of its ranking. Top-1/top-5 classification accuracy is
recall@1/recall@5 with one relevant id (the label) per query.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[int]]`): ids ranked best first for each query (at least max(k) long,
        or every candidate when there are fewer).
    references (`list[list[int]]`): the relevant ids of each query.
    k (`list[int]`, defaults to `[1, 5, 10]`): the cut-offs.
Returns:
    `recall@K` (`float`) for each K, and `total` (`int`): the number of queries.
Examples:
    >>> metric = evaluate.load("evaluation/metrics/recall_at_k")
    >>> metric.compute(predictions=[[3, 1, 2], [0, 2, 1]], references=[[1], [1]], k=[1, 2])
    {'recall@1': 0.0, 'recall@2': 0.5, 'total': 2}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RecallAtK(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int64")),
                    "references": datasets.Sequence(datasets.Value("int64")),
                }
            ),
        )

    def _compute(self, predictions, references, k=(1, 5, 10)):
        if not references:
            raise ValueError("recall_at_k got no queries; there is nothing to score.")
        if any(cutoff < 1 for cutoff in k):
            raise ValueError(f"recall_at_k cut-offs must be >= 1, got k={list(k)}.")
        scores = {}
        for cutoff in k:
            hits = sum(bool(set(ranked[:cutoff]) & set(relevant)) for ranked, relevant in zip(predictions, references))
            scores[f"recall@{cutoff}"] = hits / len(references)
        return {**scores, "total": len(references)}
