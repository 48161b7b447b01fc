"""Non-Latin concept names (issue 14, point 9): distinct names keep distinct ids, the same on every
run; Latin ids (the published curated list's) do not change."""

import json
import re
import unicodedata

from fake_servers import FakeServer, completion, sends
from test_openai_backend import top_down_config

from cultureclip.dataset_builder.curated import concept_id, load_curated, slug
from cultureclip.dataset_builder.generate import generate
from cultureclip.dataset_builder.records import Concept, read_records


def concept(name: str) -> dict:
    return {"concept": name, "context": "A steamed dish of northern China.", "visual_features": "white folds"}


def test_distinct_non_latin_names_get_distinct_stable_ids(tmp_path):
    answer = completion(json.dumps({"concepts": [concept("饺子"), concept("包子")]}, ensure_ascii=False))
    server = FakeServer(sends(answer))
    for run in ("first", "second"):
        generate(top_down_config(server.url, "m", cells=1), tmp_path / run, stages=["concepts"], progress=False)
    server.stop()
    first, second = (read_records(tmp_path / run, Concept) for run in ("first", "second"))
    assert [c.concept for c in first] == ["饺子", "包子"]
    assert [c.concept_id for c in first] == ["cn-cuisine-f00ffdf5", "cn-cuisine-787d89bb"]
    assert [c.concept_id for c in second] == [c.concept_id for c in first]


def latin_slug(text: str) -> str:
    """The slug before non-Latin names were handled: what the published ids were made with."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def test_latin_ids_are_unchanged():
    assert slug("Crème brûlée") == "creme-brulee" and slug("Jiaozi (boiled)") == "jiaozi-boiled"
    assert concept_id("CN", "Animals & Plants", "Giant Panda") == "cn-animals-plants-giant-panda"
    # every name whose letters all had an ASCII form keeps its published id
    curated = [side for twin in load_curated() for side in (twin.pos, twin.neg)]
    plain = [side for side in curated if all(c.isascii() or not c.isalpha() or latin_slug(c) for c in side.concept)]
    assert len(plain) > 600
    assert all(side.concept_id.endswith("-" + latin_slug(side.concept)) for side in plain)
    assert slug("Smørrebrød") == "smorrebrod" and slug("Pastırma") == "pastirma" and slug("Straße") == "strasse"
    assert slug("Jeotgarak’s") == latin_slug("Jeotgarak’s") == "jeotgaraks"  # punctuation never asks for a hash
    assert slug("!!!") != slug("???")
