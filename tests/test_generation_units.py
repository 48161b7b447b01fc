"""Each stage's validation on good and bad model outputs (no model: scripted answers)."""

import json

import pytest

from cultureclip.dataset_builder.backends import BackendFailure
from cultureclip.dataset_builder.bottom_up import map_category, validate_item
from cultureclip.dataset_builder.captions import clean_caption, compose, token_counter
from cultureclip.dataset_builder.config import SelectionConfig
from cultureclip.dataset_builder.curated import load_curated
from cultureclip.dataset_builder.pairs import candidate_pairs
from cultureclip.dataset_builder.quality import passes, validate_scores
from cultureclip.dataset_builder.records import Twin
from cultureclip.dataset_builder.structured import Invalid, Query, ask, parse_json
from cultureclip.dataset_builder.twins import validate_twin
from cultureclip.dataset_builder.validators import validate_concept
from cultureclip.errors import UserError

SAMPLE = "tests/data/curated_sample.jsonl"


class Scripted:
    """A backend that answers from a list, in order, and records the seeds it was asked with."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.seeds = []

    def generate(self, requests):
        self.seeds.extend(r.seed for r in requests)
        return [self.answers.pop(0) for _ in requests]


def test_parse_json_finds_the_object_in_prose():
    assert parse_json('Sure! ```json\n{"a": [1, 2]}\n``` done') == {"a": [1, 2]}
    assert parse_json("x [1, {oops} ] then [3]") == [3]
    with pytest.raises(Invalid, match="not-json"):
        parse_json("no json here {")


def test_ask_retries_malformed_answers_then_rejects():
    validate = lambda data: [data["v"]]  # noqa: E731
    queries = [Query("a", [], 1, validate), Query("b", [], 2, validate), Query("c", [], 3, validate)]
    backend = Scripted(['{"v": 1}', "garbage", BackendFailure("HTTP 503", "down"), '{"v": 2}'])

    def strict(data):
        if not isinstance(data, dict) or "v" not in data:
            raise Invalid("wrong-shape", "needs v")
        return [data["v"]]

    queries = [Query(q.item_id, [], q.seed, strict) for q in queries]
    outcomes = ask(backend, queries, max_attempts=2)
    assert [o.records for o in outcomes] == [[1], [2], []]
    assert outcomes[2].failed == BackendFailure("HTTP 503", "down") and outcomes[2].rejected is None
    assert len(set(backend.seeds)) == 4  # a retry uses a new seed

    outcomes = ask(Scripted(["nope", "[]"]), [Query("d", [], 4, strict)], max_attempts=2)
    assert outcomes[0].rejected == "wrong-shape"
    assert "after 2 attempts" in outcomes[0].detail and "'[]'" in outcomes[0].detail


def test_concept_validation():
    good = {
        "concept": "Mantou",
        "context": "Steamed wheat bun eaten daily in northern China.",
        "visual_features": "white dome",
    }
    concept = validate_concept(good, "CN", "Cuisine", "top-down")
    assert concept.concept_id == "cn-cuisine-mantou" and concept.source == "top-down"
    with pytest.raises(Invalid, match="missing-field"):
        validate_concept({**good, "context": " "}, "CN", "Cuisine", "top-down")
    with pytest.raises(Invalid, match="too-long"):
        validate_concept({**good, "concept": "a " * 20}, "CN", "Cuisine", "top-down")
    with pytest.raises(Invalid, match="wrong-shape"):
        validate_concept(["Mantou"], "CN", "Cuisine", "top-down")


def test_twin_validation_rejects_same_concept_same_country_and_reuse():
    jiaozi = load_curated(SAMPLE)[0].pos
    twin = {"concept": "Pierogi", "country": "pl", "context": "Polish dumplings.", "visual_features": "half-moon"}
    used = {jiaozi.concept_id}
    neg, record = validate_twin(twin, jiaozi, used)
    assert neg.country == "PL" and neg.source == "twin" and neg.category == "Cuisine"
    assert record == Twin("cn-cuisine-jiaozi--pl-cuisine-pierogi", jiaozi.concept_id, neg.concept_id, "Cuisine")
    for bad, reason in [
        ({**twin, "concept": "jiaozi", "country": "KR"}, "twin-equals-concept"),
        ({**twin, "concept": "Wonton", "country": "CN"}, "same-country"),
        (twin, "twin-already-used"),
        ({**twin, "country": "Poland"}, "bad-country"),
    ]:
        with pytest.raises(Invalid, match=reason):
            validate_twin(bad, jiaozi, used)
    # a twin concept already on disk without its Twin record is not written twice
    assert validate_twin(
        {**twin, "concept": "Vareniki", "country": "UA"}, jiaozi, set(), frozenset({"ua-cuisine-vareniki"})
    ) == [Twin("cn-cuisine-jiaozi--ua-cuisine-vareniki", jiaozi.concept_id, "ua-cuisine-vareniki", "Cuisine")]


def test_captions_validation_and_composition():
    assert clean_caption("  Jiaozi   on a plate ", 5) == "Jiaozi on a plate"
    for bad, reason in [
        ("", "missing-field"),
        (3, "missing-field"),
        ("Two words", "too-short"),
        ("w " * 9, "too-long"),
    ]:
        with pytest.raises(Invalid, match=reason):
            clean_caption(bad, 8)
    concept = load_curated(SAMPLE)[0].pos
    templates = ["A photo of $concept, $feature.", "$concept in $country, $setting."]
    captions = compose(concept, templates, 4, 15)
    assert len(set(captions)) == 4 and all("Jiaozi" in c and len(c.split()) <= 15 for c in captions)
    with pytest.raises(Invalid, match="too-few-captions"):
        compose(concept, templates, 40, 15)


def test_captions_over_clips_token_limit_are_rejected(tiny_models):
    count_tokens = token_counter(str(tiny_models["clip"]))
    text = "Jiaozi with fine pleats on a plate"
    assert clean_caption(text, 20, count_tokens, max_tokens=77) == text
    # Twenty words of unusual characters tokenise to many byte-level tokens.
    long = " ".join(["ǅǆǇǈǉ"] * 20)
    assert count_tokens(long) > 77
    with pytest.raises(Invalid, match=r"too-many-tokens.*limit 77|CLIP tokens, limit 77"):
        clean_caption(long, 20, count_tokens, max_tokens=77)
    concept = load_curated(SAMPLE)[0].pos
    with pytest.raises(Invalid, match="too-few-captions"):
        compose(concept, ["A photo of $concept, $feature."], 1, 20, count_tokens, max_tokens=5)
    assert token_counter(None) is None


def test_quality_scores_and_the_paper_pass_rule():
    assert validate_scores({"authenticity": 4, "consistency": "5", "cultural_fidelity": 3}) == {
        "authenticity": 4,
        "consistency": 5,
        "cultural_fidelity": 3,
    }
    for bad in [{"authenticity": 6, "consistency": 4, "cultural_fidelity": 4}, {"authenticity": 4}, [4, 4, 4]]:
        with pytest.raises(Invalid):
            validate_scores(bad)
    assert passes({"a": 4, "b": 4, "c": 2})
    assert not passes({"a": 5, "b": 5, "c": 1})  # a score of 1 fails whatever the mean
    assert not passes({"a": 3, "b": 3, "c": 3})  # the mean must be above 3


@pytest.mark.parametrize(
    ("answer", "category"),
    [
        ("Festivals", "Festival"),
        ("Arts", "Art"),
        ("Cuisines", "Cuisine"),
        ("Animals and Plants", "Animals & Plants"),
        ("animals  AND plants ", "Animals & Plants"),
        ("Daily life", "Daily Life"),
        ("Foods", "Cuisine"),
        ("clothes", "Clothing"),
        ("Symbols", "Symbol"),
        ("spaceships", "Symbol"),
    ],
)
def test_category_answers_are_normalised_before_the_lookup(answer, category):
    assert map_category(answer) == category


def test_bottom_up_validation_and_category_remap():
    assert map_category("Food") == "Cuisine" and map_category("cuisine") == "Cuisine"
    assert map_category("music") == "Art" and map_category("plants") == "Animals & Plants"
    assert map_category("spaceships") == "Symbol"
    item = {
        "cultural": True,
        "concept": "Hanbok",
        "country": "KR",
        "category": "clothes",
        "context": "x y z",
        "visual_features": "a",
    }
    known = set()
    [concept] = validate_item(item, 7, known, SelectionConfig())
    assert concept.concept_id == "row7-kr-clothing-hanbok" and concept.category == "Clothing"
    for data, reason, final in [
        ({"cultural": False}, "not-cultural", True),
        (item, "duplicate-concept", True),
        ({**item, "country": "Korea"}, "bad-country", False),
        ({"concept": "x"}, "wrong-shape", False),
    ]:
        with pytest.raises(Invalid, match=reason) as error:
            validate_item(data, 8, known, SelectionConfig())
        assert error.value.final is final
    jeogori = {**item, "concept": "Jeogori"}
    for selection, detail in [
        (SelectionConfig(categories=["Cuisine"]), r"category Clothing is not in selection.categories \['Cuisine'\]"),
        (SelectionConfig(countries=["jp"]), r"KR is not in selection.countries \['jp'\]"),
        (SelectionConfig(regions=["Europe"]), r"KR \(Asia\) is not in selection.regions \['Europe'\]"),
    ]:
        with pytest.raises(Invalid, match=detail) as error:
            validate_item(jeogori, 9, known, selection)
        assert error.value.reason == "not-selected" and error.value.final
    [concept] = validate_item(jeogori, 9, known, SelectionConfig(countries=["kr"], regions=["Asia"]))
    assert concept.concept_id == "row9-kr-clothing-jeogori"


def test_pairs_are_all_combinations_or_a_seeded_sample():
    twin = Twin("t", "p", "n", "Art")
    pos, neg = ["p-c00", "p-c01", "p-c02"], ["n-c00", "n-c01", "n-c02"]
    assert len(candidate_pairs(twin, pos, neg, None, 0)) == 9
    sample = candidate_pairs(twin, pos, neg, 4, 0)
    assert len(sample) == 4 and sample == candidate_pairs(twin, list(reversed(pos)), neg, 4, 0)
    assert json.dumps([p.pair_id for p in sample]) != json.dumps(
        [p.pair_id for p in candidate_pairs(twin, pos, neg, 4, 1)]
    )


@pytest.mark.parametrize("part", ["video", "image"])
def test_a_processor_that_needs_torchvision_says_how_to_get_it(part, monkeypatch):
    import sys

    from transformers import pipeline  # noqa: F401 (settles the module object in sys.modules)

    from cultureclip.dataset_builder import processors
    from cultureclip.dataset_builder.backends import TransformersChat
    from cultureclip.dataset_builder.config import ModelConfig

    def needs_torchvision(*args, **kwargs):  # what transformers raises for a processor part that needs it
        raise ImportError(f"Some{part.title()}Processor requires the Torchvision library but it was not found")

    if part == "video":  # a processor with no video processor to leave out, whose loading needs torchvision
        monkeypatch.setattr(processors, "load_image_only_processor", lambda model: None)
        # transformers swaps its lazy module object in sys.modules: patch the one `from transformers import` reads
        monkeypatch.setattr(sys.modules["transformers"], "pipeline", needs_torchvision)
    else:  # the video processor left out, but the image processor needs torchvision too
        monkeypatch.setattr(processors, "load_image_only_processor", needs_torchvision)
    config = ModelConfig("org/some-vlm", task="image-text-to-text")
    with pytest.raises(UserError, match=r"org/some-vlm needs torchvision.*backend=openai"):
        TransformersChat(config)
