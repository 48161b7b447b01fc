"""``cultureclip generate`` with ``configs/cultwin_paper.yaml`` on the paper replicas, only model paths
and sizes changed: the language stages send their real prompts through the Qwen2.5-VL replica, the
images stage runs the SD 3.5 replica at the paper's steps and guidance, and random weights' nonsense
is rejected with its reasons. Without torchvision the local backend builds the Qwen2.5-VL processor
without its video processor (text and images run); ``transformers serve`` loads the full processor, so
the served path needs torchvision."""

import importlib.util
import shutil

import pytest
from test_generate import SAMPLE, ScriptedVLM
from test_openai_backend import _free_port, _serve

from cultureclip.dataset_builder import backends
from cultureclip.dataset_builder.config import load_config
from cultureclip.dataset_builder.generate import generate
from cultureclip.dataset_builder.records import FILES, Caption, Concept, ImageRecord, Rejection, Twin, read_records
from cultureclip.output_dirs import mark

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
    """A new run folder holding earlier stages' records (marked as cultureclip's, so it is resumed)."""
    mark(target)
    for kind in kinds:
        shutil.copy(source / FILES[kind], target / FILES[kind])


def _scripted_run(replicas, run_dir, monkeypatch):
    """Every stage up to the images on well-formed scripted answers (the SD3 replica draws the images);
    returns the run record."""
    with monkeypatch.context() as patch:
        patch.setattr(backends, "make_backend", ScriptedVLM)
        config = load_config(PAPER, paper_sets(replicas))
        return generate(config, run_dir, stages=["concepts", "twins", "captions", "images"], progress=False)


def test_paper_config_on_the_replicas_text_stages_local_and_sd3_images(paper_replicas, tmp_path, monkeypatch):
    # Well-formed scripted answers reach every stage; the images are the SD3 replica's, at 4 steps, no guidance.
    record = _scripted_run(paper_replicas, tmp_path / "scripted", monkeypatch)
    assert record.sampling["diffusion"] == {"resolution": 64, "steps": 4, "guidance_scale": 0.0}
    assert record.config["diffusion"]["dtype"] == "float16" and record.summary["images"]["kept"] == 4
    images = read_records(tmp_path / "scripted", ImageRecord)
    assert [(i.width, i.height) for i in images] == [(64, 64)] * 4

    # Each language stage again, its real prompts through the replica with the paper's task (text only).
    replica = load_config(PAPER, paper_sets(paper_replicas, "text_model.dtype=float32"))
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


def _replica_answers_concepts_and_scores_images(config, scripted, run_root) -> None:
    """The concepts stage (text only) and the quality filter (the VLM reads each image) through the
    replica: every random answer is rejected with its reason and counted, nothing fails."""
    for stage, kinds in {"concepts": [], "quality": [Concept, Twin, Caption, ImageRecord]}.items():
        run = run_root / stage
        _copy_records(scripted, run, kinds)
        if stage == "quality":
            shutil.copytree(scripted / "images", run / "images")
        summary = generate(config, run, stages=[stage], progress=False).summary[stage]
        assert summary["failed"] == 0 and summary["kept"] == 0, (stage, summary)
        assert sum(summary["rejected"].values()) == summary["items_in"] > 0, (stage, summary)
        rejections = [r for r in read_records(run, Rejection) if r.stage == stage]
        assert len(rejections) == summary["items_in"] and all(r.reason and r.detail for r in rejections)


def test_paper_config_on_the_replica_locally_with_images(paper_replicas, tmp_path, monkeypatch):
    # Without torchvision the local backend builds the processor without its video processor.
    _scripted_run(paper_replicas, tmp_path / "scripted", monkeypatch)
    config = load_config(PAPER, paper_sets(paper_replicas, "text_model.dtype=float32"))
    assert config.text_model.task == "image-text-to-text" and config.vision_model is None
    _replica_answers_concepts_and_scores_images(config, tmp_path / "scripted", tmp_path / "local")


@pytest.mark.skipif(HAS_TORCHVISION, reason="checks the message given when torchvision is missing")
def test_transformers_serve_says_the_vlm_processor_needs_torchvision(paper_replicas, tmp_path):
    with pytest.raises(RuntimeError, match="(?i)torchvision"):
        _serve(paper_replicas["vlm"], _free_port(), tmp_path / "serve.log")


@pytest.mark.skipif(not HAS_TORCHVISION, reason="transformers serve loads the Qwen2.5-VL processor with torchvision")
def test_paper_config_on_the_replica_served_with_images(paper_replicas, tmp_path, monkeypatch):
    _scripted_run(paper_replicas, tmp_path / "scripted", monkeypatch)
    port = _free_port()
    served = f"text_model={{model: {paper_replicas['vlm']}, backend: openai, base_url: 'http://127.0.0.1:{port}/v1', max_new_tokens: 8}}"
    server = _serve(paper_replicas["vlm"], port, tmp_path / "serve.log")
    try:
        config = load_config(PAPER, paper_sets(paper_replicas, served))
        _replica_answers_concepts_and_scores_images(config, tmp_path / "scripted", tmp_path / "served")
    finally:
        server.kill()
        server.wait()
