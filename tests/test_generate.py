"""End-to-end runs of ``cultureclip generate`` on the tiny models: the curated default, resume after
a crash, the language stages on scripted good answers and on the tiny models' nonsense."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cultureclip.cli import main as cli_main
from cultureclip.dataset_builder import backends
from cultureclip.dataset_builder.config import load_config
from cultureclip.dataset_builder.generate import generate
from cultureclip.dataset_builder.records import (
    FILES,
    Caption,
    Concept,
    ImageRecord,
    Pair,
    QualityScore,
    Rejection,
    Twin,
    read_records,
)
from cultureclip.dataset_builder.run_data import load_run
from cultureclip.schemas import RunRecord

SAMPLE = str(Path("tests/data/curated_sample.jsonl").resolve())
TINY = "configs/cultwin_tiny.yaml"


def main(argv: list[str]) -> int:
    return cli_main(["generate", *argv])


def tiny_argv(tiny_models, out, *sets):
    models_dir = str(tiny_models["diffusion"].parent)
    base = ["selection.limit=2", "captions.per_concept=2", "diffusion.steps=1", f"curated_path={SAMPLE}", *sets]
    argv = ["--config", TINY, "--models-dir", models_dir, "--output-dir", str(out), "--no-progress"]
    return argv + [a for s in base for a in ("--set", s)]


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every record file and image of a run (run.json aside: it holds timings)."""
    files = {name: (run_dir / name).read_bytes() for name in FILES.values() if (run_dir / name).exists()}
    files |= {f"images/{p.name}": p.read_bytes() for p in sorted((run_dir / "images").glob("*.png"))}
    return files


def test_tiny_curated_run_end_to_end(tiny_models, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_argv(tiny_models, out)) == 0
    summary = capsys.readouterr().out
    assert "images" in summary and "pairs" in summary

    concepts, twins = read_records(out, Concept), read_records(out, Twin)
    assert [t.twin_id for t in twins] == ["cn-cuisine-jiaozi--pl-cuisine-pierogi", "cn-art-erhu--kr-art-haegeum"]
    assert len(concepts) == 4 and {c.source for c in concepts} == {"curated"}
    captions = read_records(out, Caption)
    assert len(captions) == 8 and all(len(c.text.split()) <= 20 for c in captions)
    jiaozi = [c.text for c in captions if c.concept_id == "cn-cuisine-jiaozi"]
    assert all("Jiaozi" in text for text in jiaozi) and len(set(jiaozi)) == 2
    images = read_records(out, ImageRecord)
    assert [i.caption_id for i in images] == [c.caption_id for c in captions]
    assert len({i.seed for i in images}) == 8 and all(i.width == i.height == 64 for i in images)
    assert all((out / i.path).stat().st_size > 0 for i in images)
    scores = read_records(out, QualityScore)
    assert all(s.passed and isinstance(s.clip_score, float) and s.authenticity is None for s in scores)
    pairs = read_records(out, Pair)
    assert len(pairs) == 2 * 2 * 2 and read_records(out, Rejection) == []

    record = RunRecord.read(out / "run.json")
    assert record.config["diffusion"]["model"].endswith("/diffusion")
    assert "caption_compose" in record.prompts and record.libraries["torch"]
    assert record.summary["pairs"] == {**record.summary["pairs"], "items_in": 8, "kept": 8, "failed": 0}
    assert record.sampling["diffusion"] == {"resolution": 64, "steps": 1, "guidance_scale": 0.0}

    # the run folder is what the datasets builder reads
    assert len(load_run(out).pairs) == 8

    # the same command again: nothing redone, nothing duplicated
    before = snapshot(out)
    assert main(tiny_argv(tiny_models, out)) == 0
    assert snapshot(out) == before
    # another config on the same folder is refused
    assert main(tiny_argv(tiny_models, out, "seed=7")) == 2
    assert "started with a different config (differs in ['seed'])" in capsys.readouterr().err


def test_resume_after_a_crash_mid_stage_gives_the_same_records(tiny_models, tmp_path):
    """A crash in the images stage (torn last line, a missing image, later stages never run)."""
    full = tmp_path / "full"
    assert main(tiny_argv(tiny_models, full, "diffusion.batch_size=1")) == 0
    crashed = tmp_path / "crashed"
    shutil.copytree(full, crashed)
    for name in ("scores.jsonl", "pairs.jsonl"):
        (crashed / name).unlink()
    lines = (crashed / "images.jsonl").read_bytes().splitlines(keepends=True)
    (crashed / "images.jsonl").write_bytes(b"".join(lines[:3]) + lines[3][:20])
    for image in read_records(full, ImageRecord)[3:]:
        (crashed / image.path).unlink()
    assert main(tiny_argv(tiny_models, crashed, "diffusion.batch_size=1")) == 0
    assert snapshot(crashed) == snapshot(full)


def test_a_batch_resumed_half_done_samples_what_the_uninterrupted_run_sampled(tiny_models, tmp_path):
    """A local model samples a batch under one seed: the resumed run must send the batch whole."""
    settings = [f"curated_path={SAMPLE}", f"text_model={{model: {tiny_models['llm']}}}", "captions.mode=llm",
                "text_model.task=text-generation", "text_model.max_new_tokens=12", "text_model.max_attempts=1",
                "text_model.batch_size=4", "text_model.dtype=float32", "selection.limit=2"]  # fmt: skip
    config = load_config("configs/cultwin_tiny.yaml", settings, {"models_dir": str(tiny_models["clip"].parent)})
    stages = ["concepts", "twins", "captions"]
    full, crashed = tmp_path / "full", tmp_path / "crashed"
    generate(config, full, stages=stages, progress=False)
    shutil.copytree(full, crashed)
    lines = (crashed / "rejected.jsonl").read_text().splitlines(keepends=True)
    assert len(lines) == 4  # the tiny LLM's captions: one batch of 4, all rejected with the answer quoted
    (crashed / "rejected.jsonl").write_text(lines[0])  # killed after the batch's first outcome was written
    generate(config, crashed, stages=stages, progress=False)
    assert read_records(crashed, Rejection) == read_records(full, Rejection)


def test_pairs_before_quality_is_refused_and_a_full_run_then_keeps_every_pair(tiny_models, tmp_path, capsys):
    """Pairs wait for the quality verdicts of their images: none is rejected for lack of one."""
    full, staged = tmp_path / "full", tmp_path / "staged"
    assert main(tiny_argv(tiny_models, full)) == 0
    early = ["--stages", "concepts,twins,captions,images,pairs"]
    assert main(tiny_argv(tiny_models, staged) + early) == 2
    assert "needs a quality verdict for every image, but 8 caption(s) have none" in capsys.readouterr().err
    assert read_records(staged, Rejection) == [] and read_records(staged, Pair) == []
    assert main(tiny_argv(tiny_models, staged)) == 0
    assert snapshot(staged) == snapshot(full)


def test_kill_9_and_resume_equals_an_uninterrupted_run(tiny_models, tmp_path):
    """The real thing: ``kill -9`` of the command mid-run, then the same command again."""
    sets = ("diffusion.batch_size=1", "selection.limit=3", "captions.per_concept=3")
    full, killed = tmp_path / "full", tmp_path / "killed"
    command = [sys.executable, "-m", "cultureclip.cli", "generate"]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    subprocess.run([*command, *tiny_argv(tiny_models, full, *sets)], check=True, env=env, capture_output=True)
    process = subprocess.Popen([*command, *tiny_argv(tiny_models, killed, *sets)], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(read_records(killed, ImageRecord)) < 4:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 4 <= len(read_records(killed, ImageRecord)) < 18, "the run was not killed mid-stage"
    subprocess.run([*command, *tiny_argv(tiny_models, killed, *sets)], check=True, env=env, capture_output=True)
    assert snapshot(killed) == snapshot(full)


class ScriptedVLM:
    """Well-formed answers, chosen from the prompt, as a real model would give them."""

    def __init__(self, config):
        self.config = config

    def generate(self, requests):
        return [self.answer(r.messages[0]["content"]) for r in requests]

    def answer(self, content):
        text = content if isinstance(content, str) else content[-1]["text"]
        if "distinct concepts" in text:
            concepts = [
                {
                    "concept": "Mantou",
                    "context": "Steamed bun of northern China.",
                    "visual_features": "white dome, smooth skin",
                },
                {
                    "concept": "Jiaozi",
                    "context": "Dumplings for the New Year.",
                    "visual_features": "pleated crescent, thin wrapper",
                },
                {"concept": "", "context": "broken", "visual_features": "x"},
            ]
            return "Here you are:\n" + json.dumps({"concepts": concepts})
        if "Propose ONE" in text:
            if "Concept: Mantou" in text:
                return json.dumps({"concept": "Mantou", "country": "KR", "context": "c", "visual_features": "v"})
            return json.dumps(
                {
                    "concept": "Pierogi",
                    "country": "PL",
                    "context": "Polish dumplings.",
                    "visual_features": "half-moon, crimped",
                }
            )
        if "image captions" in text:
            name = text.split("Concept: ")[1].split(" (")[0]
            return json.dumps({"captions": [f"{name} on a plate, photo", f"{name} at a family table", "too short"]})
        if "Score the image" in text:
            fidelity = 1 if "Pierogi at a family table" in text else 4
            return json.dumps({"authenticity": 4, "consistency": 4, "cultural_fidelity": fidelity})
        raise AssertionError(text)


def test_language_stages_on_well_formed_answers(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "make_backend", ScriptedVLM)
    models_dir = str(tiny_models["diffusion"].parent)
    config = load_config(
        "configs/cultwin_paper.yaml",
        [
            f"curated_path={SAMPLE}",
            "selection.countries=[CN]",
            "selection.categories=[Cuisine]",
            "concepts_per_cell=2",
            "captions.per_concept=2",
            f"captions.tokenizer={models_dir}/clip",
            f"diffusion.model={models_dir}/diffusion",
            "diffusion.resolution=64",
            "diffusion.steps=1",
            "diffusion.dtype=float32",
        ],
    )
    record = generate(config, tmp_path, progress=False)
    concepts = {c.concept_id: c for c in read_records(tmp_path, Concept)}
    assert set(concepts) == {"cn-cuisine-mantou", "cn-cuisine-jiaozi", "pl-cuisine-pierogi"}
    assert concepts["pl-cuisine-pierogi"].source == "twin"
    [twin] = read_records(tmp_path, Twin)
    assert (twin.pos_concept_id, twin.neg_concept_id) == ("cn-cuisine-jiaozi", "pl-cuisine-pierogi")
    rejected = {(r.stage, r.item_id): r for r in read_records(tmp_path, Rejection)}
    assert rejected[("twins", "cn-cuisine-mantou")].reason == "twin-equals-concept"
    assert len(read_records(tmp_path, Caption)) == 4
    scores = {s.caption_id: s for s in read_records(tmp_path, QualityScore)}
    assert [s.passed for s in scores.values()] == [True, True, True, False]
    assert scores["pl-cuisine-pierogi-c01"].cultural_fidelity == 1
    assert [p.pair_id for p in read_records(tmp_path, Pair)] == [
        "cn-cuisine-jiaozi-c00--pl-cuisine-pierogi-c00",
        "cn-cuisine-jiaozi-c01--pl-cuisine-pierogi-c00",
    ]
    assert rejected[("pairs", "cn-cuisine-jiaozi-c00--pl-cuisine-pierogi-c01")].reason == "failed-quality"
    assert record.summary["twins"]["rejected"] == {"twin-equals-concept": 1}
    assert set(record.prompts) == {"concepts", "twins", "captions", "caption_compose", "quality"}
    assert "Score the image" in record.prompts["quality"]


def test_tiny_models_nonsense_is_survived_and_explained(tiny_models, tmp_path):
    """Random-weight models answer noise: every item is rejected with its reason, nothing crashes."""
    small = ["max_new_tokens=12", "max_attempts=2", "batch_size=4", "dtype=float32", "temperature=0.7"]

    def config(role, model, *sets):
        overrides = [f"curated_path={SAMPLE}", f"{role}={{model: {model}}}", *(f"{role}.{s}" for s in small), *sets]
        return load_config(TINY, overrides, {"models_dir": str(tiny_models["diffusion"].parent)})

    vlm_quality = config(
        "vision_model", tiny_models["vlm"], "quality.vlm_scores=true", "selection.limit=1", "captions.per_concept=2"
    )
    record = generate(vlm_quality, tmp_path / "curated", progress=False)
    quality = record.summary["quality"]
    assert quality["items_in"] == 4 and quality["kept"] == 0 and sum(quality["rejected"].values()) == 4
    assert record.summary["pairs"]["kept"] == 0
    assert {r.reason for r in read_records(tmp_path / "curated", Rejection) if r.stage == "pairs"} == {
        "no-quality-score"
    }
    assert all(
        "after 2 attempts" in r.detail for r in read_records(tmp_path / "curated", Rejection) if r.stage == "quality"
    )

    top_down = config(
        "text_model",
        tiny_models["llm"],
        "text_model.task=text-generation",
        "source=top-down",
        "selection.countries=[CN, JP]",
        "selection.categories=[Cuisine]",
    )
    record = generate(top_down, tmp_path / "top-down", progress=False)
    concepts = record.summary["concepts"]
    assert concepts["items_in"] == 2 and concepts["kept"] == 0 and sum(concepts["rejected"].values()) == 2
    assert record.summary["pairs"]["items_in"] == 0


def _wit_folder(path: Path) -> Path:
    """A WIT-style image-text dataset on disk (``imagefolder`` with a metadata file)."""
    from PIL import Image

    path.mkdir()
    rows = [
        ("Hanbok", "Korean traditional dress.", "A woman in a hanbok."),
        ("Parking lot", "A place to park cars.", "Cars parked in rows."),
        ("Kimono", "Japanese traditional garment.", "A kimono on display."),
    ]
    with (path / "metadata.jsonl").open("w") as metadata:
        for index, (title, description, caption) in enumerate(rows):
            Image.new("RGB", (16, 16), (index * 80, 0, 0)).save(path / f"{index}.png")
            row = {"file_name": f"{index}.png", "title": title, "description": description, "caption": caption}
            metadata.write(json.dumps(row) + "\n")
    return path


def _bottom_up_sets(folder: Path, *sets: str) -> list[str]:
    return [
        f"curated_path={SAMPLE}",
        "source=bottom-up",
        f"bottom_up.dataset={folder}",
        "bottom_up.title_column=title",
        "bottom_up.description_column=description",
        "bottom_up.caption_column=caption",
        *sets,
    ]


class ScriptedReader(ScriptedVLM):
    def answer(self, content):
        text = content[-1]["text"] if isinstance(content, list) else content
        if "Page title: " not in text:
            return super().answer(content)
        title = text.split("Page title: ")[1].splitlines()[0]
        if title == "Parking lot":
            return '{"cultural": false}'
        country = {"Hanbok": "KR", "Kimono": "JP"}[title]
        fields = {"concept": title, "country": country, "category": "costume", "context": "c", "visual_features": "v"}
        return json.dumps({"cultural": True, **fields})


def test_bottom_up_concepts_from_an_image_text_dataset(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "make_backend", ScriptedReader)
    sets = _bottom_up_sets(_wit_folder(tmp_path / "wit"))
    config = load_config("configs/cultwin_paper.yaml", sets)
    generate(config, tmp_path / "run", stages=["concepts"], progress=False)
    concepts = read_records(tmp_path / "run", Concept)
    assert [(c.concept_id, c.category, c.source) for c in concepts] == [
        ("row0-kr-clothing-hanbok", "Clothing", "bottom-up"),
        ("row2-jp-clothing-kimono", "Clothing", "bottom-up"),
    ]
    [rejection] = read_records(tmp_path / "run", Rejection)
    assert (rejection.stage, rejection.item_id, rejection.reason) == ("concepts", "row1", "not-cultural")

    bad = load_config("configs/cultwin_paper.yaml", [*sets, "bottom_up.caption_column=caption_reference"])
    with pytest.raises(ValueError, match=r"has no column\(s\) \['caption_reference'\]"):
        generate(bad, tmp_path / "bad", stages=["concepts"], progress=False)


@pytest.mark.parametrize(
    ("selection", "kept", "unselected"),
    [
        ("selection.countries=[kr]", ["row0-kr-clothing-hanbok"], ["row2"]),
        ("selection.regions=[Asia]", ["row0-kr-clothing-hanbok", "row2-jp-clothing-kimono"], []),
        ("selection.regions=[Europe]", [], ["row0", "row2"]),
        ("selection.categories=[Cuisine]", [], ["row0", "row2"]),
    ],
)
def test_bottom_up_keeps_only_selected_concepts(tmp_path, monkeypatch, selection, kept, unselected):
    monkeypatch.setattr(backends, "make_backend", ScriptedReader)
    config = load_config("configs/cultwin_paper.yaml", _bottom_up_sets(_wit_folder(tmp_path / "wit"), selection))
    generate(config, tmp_path / "run", stages=["concepts"], progress=False)
    assert [c.concept_id for c in read_records(tmp_path / "run", Concept)] == kept
    rejected = {r.item_id: r.reason for r in read_records(tmp_path / "run", Rejection)}
    assert rejected == {"row1": "not-cultural"} | dict.fromkeys(unselected, "not-selected")


class SwappedTwinReader(ScriptedReader):
    """Proposes each corpus concept as the other's twin: Kimono for Hanbok, Hanbok for Kimono."""

    def answer(self, content):
        text = content[-1]["text"] if isinstance(content, list) else content
        if "Propose ONE" not in text:
            return super().answer(content)
        concept, country = ("Kimono", "JP") if "Concept: Hanbok" in text else ("Hanbok", "KR")
        return json.dumps({"concept": concept, "country": country, "context": "c", "visual_features": "v"})


def test_a_twin_that_is_already_a_bottom_up_concept_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "make_backend", SwappedTwinReader)
    config = load_config("configs/cultwin_paper.yaml", _bottom_up_sets(_wit_folder(tmp_path / "wit")))
    generate(config, tmp_path / "run", stages=["concepts", "twins"], progress=False)
    concepts = read_records(tmp_path / "run", Concept)
    assert [(c.concept_id, c.source) for c in concepts] == [
        ("row0-kr-clothing-hanbok", "bottom-up"),
        ("row2-jp-clothing-kimono", "bottom-up"),
    ]
    assert read_records(tmp_path / "run", Twin) == []
    rejected = {r.item_id: r.reason for r in read_records(tmp_path / "run", Rejection) if r.stage == "twins"}
    assert rejected == dict.fromkeys(["row0-kr-clothing-hanbok", "row2-jp-clothing-kimono"], "twin-already-used")


def test_images_split_across_two_processes_match_one_process(tiny_models, tmp_path):
    """``accelerate launch --num_processes 2`` (CPU): same records, same images up to float rounding."""
    import numpy as np
    from PIL import Image

    sets = ("diffusion.batch_size=2",)
    one, two = tmp_path / "one", tmp_path / "two"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    assert main(tiny_argv(tiny_models, one, *sets)) == 0
    launch = ["accelerate", "launch", "--cpu", "--num_processes", "2", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no", "-m", "cultureclip.cli", "generate"]
    subprocess.run(
        [*launch, *tiny_argv(tiny_models, two, *sets)], check=True, env=env, capture_output=True, timeout=300
    )
    assert sorted(map(str, read_records(two, ImageRecord))) == sorted(map(str, read_records(one, ImageRecord)))
    for record in read_records(one, ImageRecord):
        a, b = (np.asarray(Image.open(run / record.path), dtype=int) for run in (one, two))
        assert np.abs(a - b).max() <= 1  # the same latents; batches differ, so float rounding may
    assert (two / "pairs.jsonl").read_text() == (one / "pairs.jsonl").read_text()
