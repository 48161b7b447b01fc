"""``cultureclip generate`` with ``configs/cultwin_paper.yaml`` on the paper replicas, only model paths
and sizes changed: the language stages send their real prompts through the Qwen2.5-VL replica, the
images stage runs the SD 3.5 replica at the paper's steps and guidance, and random weights' nonsense
is rejected with its reasons. Without torchvision the Qwen2.5-VL processor cannot load (locally or in
``transformers serve``): the text-only stages then run the replica with its tokenizer, and the image
path says what is missing."""

import importlib.util
import shutil

import pytest
from test_generate import SAMPLE, ScriptedVLM
from test_openai_backend import _free_port, _serve

from cultureclip.cli import main as cli_main
from cultureclip.dataset_builder import backends
from cultureclip.dataset_builder.config import load_config
from cultureclip.dataset_builder.generate import generate
from cultureclip.dataset_builder.records import FILES, Caption, Concept, ImageRecord, Rejection, Twin, read_records

PAPER = "configs/cultwin_paper.yaml"
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None
pytestmark = pytest.mark.slow


def paper_sets(replicas, *extra: str) -> list[str]:
    """The paper config's overrides for the replicas: model paths, one cell, small sizes."""
    return [
        f"curated_path={SAMPLE}",
        "selection.countries=[CN]",
        "selection.categories=[Cuisine]",
        "concepts_per_cell=2",
        "captions.per_concept=2",
        f"captions.tokenizer={replicas['diffusion']}/tokenizer",
        f"diffusion.model={replicas['diffusion']}",
        "diffusion.resolution=64",
        f"text_model.model={replicas['vlm']}",
        "text_model.max_new_tokens=8",
        "text_model.batch_size=2",
        *extra,
    ]


def _copy_records(source, target, kinds) -> None:
    target.mkdir(parents=True)
    for kind in kinds:
        shutil.copy(source / FILES[kind], target / FILES[kind])


def test_paper_config_on_the_replicas_text_stages_local_and_sd3_images(paper_replicas, tmp_path, monkeypatch):
    # Well-formed scripted answers reach every stage; the images are the SD3 replica's, at 4 steps, no guidance.
    with monkeypatch.context() as patch:
        patch.setattr(backends, "make_backend", ScriptedVLM)
        scripted = load_config(PAPER, paper_sets(paper_replicas))
        record = generate(scripted, tmp_path / "scripted", stages=["concepts", "twins", "captions", "images"])
    assert record["sampling"]["diffusion"] == {"resolution": 64, "steps": 4, "guidance_scale": 0.0}
    assert scripted.diffusion.dtype == "float16" and record.summary["images"]["kept"] == 4
    images = read_records(tmp_path / "scripted", ImageRecord)
    assert [(i.width, i.height) for i in images] == [(64, 64)] * 4

    # Each language stage again, its real prompts through the replica (text only, its tokenizer alone).
    replica = load_config(
        PAPER,
        paper_sets(
            paper_replicas,
            "text_model.task=text-generation",
            "text_model.dtype=float32",
            "vision_model={model: reader, backend: openai, base_url: 'http://127.0.0.1:9/v1'}",
        ),
    )
    earlier = {"concepts": [], "twins": [Concept], "captions": [Concept, Twin]}
    for stage, kinds in earlier.items():
        run = tmp_path / stage
        _copy_records(tmp_path / "scripted", run, kinds)
        summary = generate(replica, run, stages=[stage], progress=False).summary[stage]
        assert summary["items_in"] > 0 and summary["failed"] == 0 and summary["kept"] == 0, (stage, summary)
        assert sum(summary["rejected"].values()) == summary["items_in"], (stage, summary)
        rejections = [r for r in read_records(run, Rejection) if r.stage == stage]
        assert all("after 3 attempts" in r.detail for r in rejections), rejections
    assert read_records(tmp_path / "captions", Caption) == []


@pytest.mark.skipif(HAS_TORCHVISION, reason="checks the message given when torchvision is missing")
def test_paper_config_says_when_the_vlm_processor_needs_torchvision(paper_replicas, tmp_path, capsys):
    argv = ["--config", PAPER, "--output-dir", str(tmp_path / "run"), "--no-progress"]
    argv += [a for s in paper_sets(paper_replicas, "source=top-down") for a in ("--set", s)]
    assert cli_main(["generate", *argv]) == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if "cultureclip generate" in line]
    assert "needs torchvision" in line and "text_model.task=text-generation" in line
    assert read_records(tmp_path / "run", Concept) == []

    port = _free_port()
    with pytest.raises(RuntimeError, match="(?i)torchvision"):
        _serve(paper_replicas["vlm"], port, tmp_path / "serve.log")


@pytest.mark.skipif(not HAS_TORCHVISION, reason="the Qwen2.5-VL processor needs torchvision")
def test_paper_config_on_the_replica_locally_and_served_with_images(paper_replicas, tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(backends, "make_backend", ScriptedVLM)
        generate(
            load_config(PAPER, paper_sets(paper_replicas)),
            tmp_path / "scripted",
            stages=["concepts", "twins", "captions", "images"],
        )
    port = _free_port()
    served = f"text_model={{model: {paper_replicas['vlm']}, backend: openai, base_url: 'http://127.0.0.1:{port}/v1', max_new_tokens: 8}}"
    server = _serve(paper_replicas["vlm"], port, tmp_path / "serve.log")
    try:
        for name, sets in (
            ("local", paper_sets(paper_replicas, "text_model.dtype=float32")),
            ("served", paper_sets(paper_replicas, served)),
        ):
            config = load_config(PAPER, sets)
            for stage, kinds in {"concepts": [], "quality": [Concept, Twin, Caption, ImageRecord]}.items():
                run = tmp_path / name / stage
                _copy_records(tmp_path / "scripted", run, kinds)
                if stage == "quality":
                    shutil.copytree(tmp_path / "scripted" / "images", run / "images")
                summary = generate(config, run, stages=[stage], progress=False).summary[stage]
                assert summary["failed"] == 0 and sum(summary["rejected"].values()) == summary["items_in"] > 0
    finally:
        server.kill()
        server.wait()
