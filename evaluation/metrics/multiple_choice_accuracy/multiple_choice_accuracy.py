"""Multiple-choice accuracy: the fraction of questions whose predicted option is the correct one."""

import datasets
import evaluate

_DESCRIPTION = """
Accuracy of zero-shot multiple choice: each question has one correct option index (reference) and
one predicted option index (prediction). Returns the accuracy with the raw counts, so that results
can be summed over groups and checked by hand.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): predicted option index of each question.
    references (`list[int]`): correct option index of each question.
Returns:
    accuracy (`float`): correct / total.
    correct (`int`): questions answered correctly.
    total (`int`): questions scored.
Examples:
    >>> metric = evaluate.load("evaluation/metrics/multiple_choice_accuracy")
    >>> metric.compute(predictions=[0, 2, 1], references=[0, 1, 1])
    {'accuracy': 0.6666666666666666, 'correct': 2, 'total': 3}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultipleChoiceAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references):
        if not references:
            raise ValueError("multiple_choice_accuracy got no questions; there is nothing to score.")
        correct = sum(int(p == r) for p, r in zip(predictions, references))
        return {"accuracy": correct / len(references), "correct": correct, "total": len(references)}
