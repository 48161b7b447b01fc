"""The benchmark protocols, checked against a plain re-statement of the public scripts' loops."""

import json
import random
import subprocess
import sys
from collections import defaultdict

import eval_datasets
import pytest

from cultureclip.evaluation.benchmarks import crope, cultwin, globalrg_grounding, globalrg_retrieval


def decodable(rows, readable):
    """The public scripts' first step: drop rows whose image does not decode (original row numbers kept)."""
    return [(row, *values) for row, values in enumerate(zip(*rows)) if readable is None or readable[row]]


def public_globalrg_retrieval(universals, regions, readable=None):
    """The public loop with ``random.seed(42)``, global ``random`` and sorted candidates."""
    rows = decodable((universals, regions), readable)
    random.seed(42)
    seen = defaultdict(set)
    for _, universal, region in rows:
        seen[universal].add(region)
    out = []
    for row, universal, region in rows:
        if len(seen[universal]) >= 4:
            other_regions = sorted(seen[universal] - {region})
            wrong = random.sample(other_regions, 3)
            answer = f"The picture depicts a kind of {universal} in {region}"
            options = [answer] + [f"The picture depicts a kind of {universal} in {other}" for other in wrong]
            random.shuffle(options)
            out.append((row, options, options.index(answer)))
    return out


def public_globalrg_grounding(regions, concepts, readable=None):
    rows = decodable((regions, concepts), readable)
    random.seed(42)
    seen = defaultdict(set)
    for _, region, concept in rows:
        seen[region].add(concept)
    out = []
    for row, region, concept in rows:
        if len(seen[region]) >= 4:
            wrong = random.sample(sorted(seen[region] - {concept}), 3)
            answer = f"The item in the picture is {concept} in {region}"
            options = [answer] + [f"The item in the picture is {other} in {region}" for other in wrong]
            random.shuffle(options)
            out.append((row, options, options.index(answer)))
    return out


def public_crope(metadata, answers, definition_counts, readable=None):
    rows = decodable((metadata, answers, definition_counts), readable)
    random.seed(42)
    out = []
    for row, meta, answer, count in rows:
        if answer.lower() == "no":
            if not meta["image_en_concept"] or not meta["definition_concept"]:
                continue
            target = f"There is {meta['image_en_concept']} in the image."
            definition = f"There is {meta['definition_concept']} in the image."
            options = [target, definition]
            random.shuffle(options)
            out.append((row, options, options.index(target)))
            out += [(row, options, options.index(definition))] * count
    return out


def _as_tuples(questions):
    return [(q.fields["row"], q.options, q.correct_idx) for q in questions]


def test_globalrg_retrieval_matches_the_public_loop_and_filters_rare_universals():
    rows = eval_datasets.globalrg_retrieval_rows()
    images = list(range(len(rows["image"])))
    questions = globalrg_retrieval.build_questions(images, rows["universal"], rows["region"], seed=42)
    assert _as_tuples(questions) == public_globalrg_retrieval(rows["universal"], rows["region"])
    # "hat" is seen in 2 regions only: its 4 rows are dropped; the other 18 are kept in order.
    assert [q.fields["universal"] for q in questions].count("hat") == 0
    assert len(questions) == 18
    assert [q.image for q in questions] == [i for i, u in enumerate(rows["universal"]) if u != "hat"]
    for question in questions:
        universal, region = question.fields["universal"], question.fields["region"]
        assert question.options[question.correct_idx] == f"The picture depicts a kind of {universal} in {region}"
        assert len(set(question.options)) == 4
        assert all(option.startswith(f"The picture depicts a kind of {universal} in ") for option in question.options)
    # The correct option is not always first: the options were shuffled.
    assert len({q.correct_idx for q in questions}) > 1


def test_globalrg_grounding_matches_the_public_loop_and_filters_small_regions():
    rows = eval_datasets.globalrg_grounding_rows()
    questions = globalrg_grounding.build_questions(range(12), rows["region"], rows["concept"], seed=42)
    assert _as_tuples(questions) == public_globalrg_grounding(rows["region"], rows["concept"])
    assert {q.fields["region"] for q in questions} == {"Asia", "Africa"}  # Europe has 3 concepts only
    assert len(questions) == 9
    for question in questions:
        region = question.fields["region"]
        assert all(option.endswith(f" in {region}") for option in question.options)
        assert (
            question.options[question.correct_idx]
            == f"The item in the picture is {question.fields['concept']} in {region}"
        )


def test_crope_keeps_answer_no_and_asks_every_image_with_one_shuffle_per_row():
    rows = eval_datasets.crope_rows()
    definition_keys = [
        [f"{row}-{j}" for j in range(len(images))] for row, images in enumerate(rows["definition_images"])
    ]
    questions = crope.build_questions(range(5), definition_keys, rows["metadata"], rows["answer"], seed=42)
    counts = [len(keys) for keys in definition_keys]
    assert _as_tuples(questions) == public_crope(rows["metadata"], rows["answer"], counts)
    assert 2 not in {q.fields["row"] for q in questions}  # answered "yes"
    assert len(questions) == 4 + sum(counts) - counts[2]
    main = [q for q in questions if q.fields["role"] == "target"]
    assert [q.image for q in main] == [0, 1, 3, 4]
    for question in questions:
        wanted = question.fields["target" if question.fields["role"] == "target" else "definition"]
        assert question.options[question.correct_idx] == f"There is {wanted} in the image."


def test_options_are_identical_across_hash_seeds():
    """The public scripts' ``list(set)`` order depends on PYTHONHASHSEED; ours must not."""
    code = (
        "import json, eval_datasets as e; from cultureclip.evaluation.benchmarks import globalrg_retrieval as g; "
        "r = e.globalrg_retrieval_rows(); "
        "print(json.dumps([q.options for q in g.build_questions(range(22), r['universal'], r['region'], 42)]))"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        env = {"PYTHONHASHSEED": hash_seed, "PYTHONPATH": f"tests:{'.'}"}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]


def _cultwin_protocol_rows(sampled: bool = False):
    """`cultwin.build_questions` arguments from the tiny release's rows, an image id per image."""
    columns = eval_datasets.cultwin_rows()
    rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    images = [[f"{row['concept_id']}:{k}" for k in range(len(row["captions"]))] for row in rows]
    pair_columns = eval_datasets.cultwin_pair_rows(sampled)
    pairs = [dict(zip(pair_columns, values)) for values in zip(*pair_columns.values())]
    return rows, images, pairs


def _pairs_based_questions(pairs: list[dict]) -> list[tuple]:
    """The questions of the benchmark before the release stored each image once, built from the
    ``pairs`` rows alone: both images of a row against ``[pos_caption, neg_caption]``, asked once."""
    questions = []
    for pair in pairs:
        for correct_idx, side in enumerate(("pos", "neg")):
            question = (
                f"{pair[f'{side}_concept_id']}:{pair[f'{side}_image_index']}",
                (pair["pos_caption"], pair["neg_caption"]),
                correct_idx,
            )
            if question not in questions:
                questions.append(question)
    return questions


def _caption_questions(questions) -> list[tuple]:
    return [(q.image, tuple(q.options), q.correct_idx) for q in questions if q.fields["level"] == "caption"]


def test_cultwin_asks_every_image_at_concept_level_once():
    rows, images, pairs = _cultwin_protocol_rows()
    concept = [q for q in cultwin.build_questions(rows, images, pairs) if q.fields["level"] == "concept"]
    assert sorted(q.image for q in concept) == sorted(image for row in images for image in row)
    by_id = {row["concept_id"]: row for row in rows}
    for question in concept:
        row = rows[question.fields["row"]]
        twin = by_id[row["twin_concept_id"]]
        assert question.options[question.correct_idx] == row["concept"]
        assert question.options[1 - question.correct_idx] == twin["concept"]
        assert question.correct_idx == int(row["concept_id"] > twin["concept_id"])  # one order per twin pair
        assert question.fields["country"] == row["country"]
    with pytest.raises(ValueError, match="its twin 'c0n' in no row"):
        cultwin.build_questions(rows[:1], images[:1], [])


def test_cultwin_caption_level_with_every_caption_pair_is_every_twin_caption():
    rows, images, pairs = _cultwin_protocol_rows()
    questions = cultwin.build_questions(rows, images, pairs)
    # The questions when every caption pair is kept: each image against its caption and each twin caption.
    by_id = {row["concept_id"]: row for row in rows}
    expected = {
        (image, frozenset((caption, theirs)), caption)
        for row, record in enumerate(rows)
        for image, caption in zip(images[row], record["captions"])
        for theirs in by_id[record["twin_concept_id"]]["captions"]
    }
    asked = [
        (q.image, frozenset(q.options), q.options[q.correct_idx]) for q in questions if q.fields["level"] == "caption"
    ]
    assert len(asked) == len(set(asked)) == len(expected) == 16
    assert set(asked) == expected


@pytest.mark.parametrize("sampled", [False, True])
def test_cultwin_caption_level_asks_exactly_the_pairs_based_questions(sampled):
    rows, images, pairs = _cultwin_protocol_rows(sampled)
    questions = cultwin.build_questions(rows, images, pairs + pairs[:1])  # a repeated row is asked once
    assert _caption_questions(questions) == _pairs_based_questions(pairs)
    assert len(_caption_questions(questions)) == (8 if sampled else 16)
    for question in questions:
        row = rows[question.fields["row"]]
        assert question.image in images[question.fields["row"]]
        assert (question.fields["country"], question.fields["concept"]) == (row["country"], row["concept"])


@pytest.mark.parametrize(
    ("change", "held"),
    [
        ({"neg_image_index": 2}, "has 2 image"),
        ({"neg_image_index": None}, "has 2 image"),
        ({"neg_concept_id": "c9n"}, "has no row"),
    ],
)
def test_cultwin_rejects_a_pair_whose_image_is_not_in_concepts(change, held):
    rows, images, pairs = _cultwin_protocol_rows()
    pairs[1] |= change
    with pytest.raises(ValueError, match=f"pair 't0-0-1' names image .* {held}.*built together"):
        cultwin.build_questions(rows, images, pairs)


def test_crope_keeps_no_in_any_case_and_skips_empty_concepts_before_the_shuffle():
    rows = eval_datasets.crope_rows()
    answers = ["No", "NO", "yes", "no", "nO", "no", "no"]
    metadata = rows["metadata"] + [
        {"image_en_concept": "", "definition_concept": "bread"},
        {"image_en_concept": "hanbok", "definition_concept": ""},
    ]
    metadata = [metadata[0], metadata[5], metadata[2], metadata[1], metadata[6], metadata[3], metadata[4]]
    definitions = [[f"{row}-0"] for row in range(7)]
    questions = crope.build_questions(range(7), definitions, metadata, answers, seed=42)
    assert _as_tuples(questions) == public_crope(metadata, answers, [1] * 7)
    assert [q.image for q in questions if q.fields["role"] == "target"] == [0, 3, 5, 6]
    # Without the skip, the empty rows would draw shuffles and change the options of rows 5 and 6.
    unskipped = crope.build_questions(
        range(7), definitions, [{**m, "image_en_concept": "x"} for m in metadata], answers, 42
    )
    assert _as_tuples(unskipped)[-4:] != _as_tuples(questions)[-4:]


READABLE = {
    "globalrg-retrieval": [row not in (1, 7) for row in range(22)],
    "globalrg-grounding": [row != 6 for row in range(12)],
    "crope": [row != 0 for row in range(5)],
}


def test_unreadable_rows_are_dropped_before_the_maps_and_the_random_calls():
    retrieval = eval_datasets.globalrg_retrieval_rows()
    args = (retrieval["universal"], retrieval["region"])
    ours = globalrg_retrieval.build_questions(range(22), *args, 42, READABLE["globalrg-retrieval"])
    assert _as_tuples(ours) == public_globalrg_retrieval(*args, READABLE["globalrg-retrieval"])
    assert _as_tuples(ours) != [t for t in public_globalrg_retrieval(*args) if t[0] not in (1, 7)]

    grounding = eval_datasets.globalrg_grounding_rows()
    args = (grounding["region"], grounding["concept"])
    ours = globalrg_grounding.build_questions(range(12), *args, 42, READABLE["globalrg-grounding"])
    assert _as_tuples(ours) == public_globalrg_grounding(*args, READABLE["globalrg-grounding"])
    # Row 6 leaves Africa with 3 readable concepts: the whole region drops out, as in the public script.
    assert {q.fields["region"] for q in ours} == {"Asia"}

    rows = eval_datasets.crope_rows()
    definitions = [[f"{row}-{j}" for j in range(len(images))] for row, images in enumerate(rows["definition_images"])]
    counts = [len(keys) for keys in definitions]
    ours = crope.build_questions(range(5), definitions, rows["metadata"], rows["answer"], 42, READABLE["crope"])
    assert _as_tuples(ours) == public_crope(rows["metadata"], rows["answer"], counts, READABLE["crope"])
    assert 0 not in {q.fields["row"] for q in ours}
