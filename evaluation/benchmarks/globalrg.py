"""The protocol both GlobalRG tasks share: four options, three distractors from the same group.

Rows whose image cannot be decoded are dropped first, before the groups are built and before any
random call (as the public scripts do); rows are grouped (by universal for Retrieval, by region for
Grounding); groups with fewer than 4 distinct answers are dropped; for each kept row, in dataset
order, 3 other answers of its group are drawn with ``random.sample`` from the sorted candidates, the
4 options are rendered from the task's template and ``random.shuffle``d. One generator seeded once
(the paper's 42) serves the whole walk, which gives the same draws as ``random.seed(42)`` followed by
the module-level functions.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence

from ..scoring import Question

MIN_ANSWERS = 4


def four_way_questions(
    images: Sequence,
    groups: Sequence[str],
    answers: Sequence[str],
    render: Callable[[str, str], str],
    seed: int,
    names: tuple[str, str],
    readable: Sequence[bool] | None = None,
) -> list[Question]:
    """One question per kept row, in dataset order.

    Args:
        images: the image of each row (a key, or any id).
        groups: the group of each row (distractors come from the same group).
        answers: the correct answer of each row.
        render: ``render(group, answer)`` -> the option text.
        seed: seed of the random draws.
        names: the names of the group and answer fields in each question's ``fields``.
        readable: per row, whether its image decodes (default: all); ``fields["row"]`` stays the
            row's index in the dataset.
    """
    rows = [
        (row, image, group, answer)
        for row, (image, group, answer) in enumerate(zip(images, groups, answers))
        if readable is None or readable[row]
    ]
    answers_of = defaultdict(set)
    for _, _, group, answer in rows:
        answers_of[group].add(answer)
    rng = random.Random(seed)
    questions = []
    for row, image, group, answer in rows:
        if len(answers_of[group]) < MIN_ANSWERS:
            continue
        wrong = rng.sample(sorted(answers_of[group] - {answer}), 3)
        correct = render(group, answer)
        options = [correct] + [render(group, other) for other in wrong]
        rng.shuffle(options)
        fields = {"row": row, names[0]: group, names[1]: answer}
        questions.append(Question(image, options, options.index(correct), fields))
    return questions
