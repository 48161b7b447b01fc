"""The metric modules shipped in the repository, loaded by path with `evaluate` (offline)."""

import pytest

from cultureclip.evaluation.metrics import load_metric, multiple_choice_accuracy, recall_at_k


def test_multiple_choice_accuracy_counts():
    assert multiple_choice_accuracy([0, 2, 1, 3], [0, 1, 1, 3]) == {"accuracy": 0.75, "correct": 3, "total": 4}
    with pytest.raises(ValueError, match="no questions"):
        multiple_choice_accuracy([], [])


def test_recall_at_k_any_relevant_item_in_the_top_k():
    rankings = [[3, 1, 2, 0], [0, 2, 1, 3], [2, 0, 3, 1]]
    relevant = [[1], [1, 3], [2]]
    assert recall_at_k(rankings, relevant, k=(1, 2, 3)) == {
        "recall@1": pytest.approx(1 / 3),
        "recall@2": pytest.approx(2 / 3),
        "recall@3": 1.0,
        "total": 3,
    }
    with pytest.raises(ValueError, match="cut-offs must be >= 1"):
        recall_at_k(rankings, relevant, k=(0,))


def test_modules_load_once_per_process_and_unknown_names_fail():
    assert load_metric("recall_at_k") is load_metric("recall_at_k")
    with pytest.raises(ValueError, match="Unknown metric 'bleu'.*multiple_choice_accuracy"):
        load_metric("bleu")
