from string import Template

import pytest

from cultureclip.cli import main as cli_main
from cultureclip.dataset_builder.captions import clean_caption
from cultureclip.dataset_builder.config import GenerationConfig, ModelConfig, load_config, looks_like_path
from cultureclip.dataset_builder.pipeline import load_prompt
from cultureclip.dataset_builder.structured import Invalid

TINY = "configs/cultwin_tiny.yaml"


def test_paper_config_has_the_paper_settings():
    config = load_config("configs/cultwin_paper.yaml")
    assert config.text_model.model == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert (config.text_model.temperature, config.text_model.max_new_tokens) == (0.7, 512)
    assert config.reader is config.text_model  # one VLM for every language step
    d = config.diffusion
    assert (d.model, d.resolution, d.steps, d.guidance_scale) == (
        "stabilityai/stable-diffusion-3.5-large-turbo",
        512,
        4,
        0.0,
    )
    assert config.captions.per_concept == 10 and config.captions.pairs_per_twin is None


def test_paper_config_asks_for_and_enforces_captions_under_15_words():
    max_words = load_config("configs/cultwin_paper.yaml").captions.max_words
    prompt = Template(load_prompt("captions")).safe_substitute(max_words=max_words)
    assert "each a single sentence of at most 14 words." in prompt
    assert clean_caption(" ".join(["word"] * 14), max_words)
    with pytest.raises(Invalid, match="has 15 words, limit 14"):
        clean_caption(" ".join(["word"] * 15), max_words)


def test_tiny_config_placeholders_and_overrides(tmp_path):
    with pytest.raises(ValueError, match=r"uses \$\{models_dir\}; pass --models-dir"):
        load_config(TINY)
    config = load_config(
        TINY, ["selection.limit=2", "captions.per_concept=3", "diffusion.steps=1"], {"models_dir": "m"}
    )
    assert config.diffusion.model == "m/diffusion" and config.quality.clip_model == "m/clip"
    assert (config.selection.limit, config.captions.per_concept, config.diffusion.steps) == (2, 3, 1)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["source=sideways"], "source='sideways' is not valid"),
        (["captions.per_concept=0"], "captions.per_concept=0 must be a whole number >= 1"),
        (["captions.per_concept=2.5"], "captions.per_concept=2.5 must be a whole number"),
        (["selection.limit=1.5"], "selection.limit=1.5 must be a whole number"),
        (["diffusion.steps=1.5"], "diffusion.steps=1.5 must be a whole number"),
        (["seed=42.0"], "seed=42.0 must be a whole number"),
        (["seed=null"], "seed=None must be a whole number"),
        (["selection.countries=[CN, cn]"], "selection.countries lists \\['CN'\\] more than once"),
        (["diffusion.resolution=100"], "multiple of 8"),
        (["selection.categories=[Food]"], "unknown \\['Food'\\]"),
        (["selection.countries=[XX]"], "Unknown country code 'XX'"),
        (["captions.mode=llm"], "needs text_model"),
        (["quality.vlm_scores=true"], "need vision_model"),
        (["quality.min_clip_score=20", "quality.clip_model=null"], "needs quality.clip_model"),
        (["diffusion.sampler=ddim"], "unknown key"),
        (["bogus"], "'bogus' is not KEY=VALUE"),
    ],
)
def test_bad_values_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(TINY, overrides, {"models_dir": "m"})


def test_model_config_checks():
    with pytest.raises(ValueError, match="needs base_url"):
        ModelConfig("m", backend="openai")
    with pytest.raises(ValueError, match="temperature=-1"):
        ModelConfig("m", temperature=-1)
    with pytest.raises(ValueError, match="needs task 'image-text-to-text'"):
        GenerationConfig(text_model=ModelConfig("m", task="text-generation"))


@pytest.mark.parametrize(
    "reference, is_path",
    [
        ("Qwen/Qwen2.5-VL-7B-Instruct", False),
        ("openai/clip-vit-base-patch32", False),
        ("gpt2", False),
        ("/models/clip", True),
        ("./clip", True),
        ("../models/clip", True),
        ("~/models/clip", True),
        ("runs/models/clip", True),
    ],
)
def test_local_paths_are_told_from_hub_ids(reference, is_path):
    assert looks_like_path(reference) is is_path


def test_local_paths_name_their_fields():
    config = load_config(
        "configs/cultwin_paper.yaml",
        [
            "diffusion.model=/m/diffusion",
            "quality.clip_model=./clip",
            "vision_model={model: /served/vlm, backend: openai, base_url: 'http://127.0.0.1:8000/v1'}",
        ],
    )
    # the text model is a Hub id; an openai model is a served name, even when it looks like a path
    assert config.local_paths() == {"diffusion.model": "/m/diffusion", "quality.clip_model": "./clip"}


def test_references_are_those_the_requested_stages_read():
    config = load_config("configs/cultwin_paper.yaml", [])
    text = "Qwen/Qwen2.5-VL-7B-Instruct"
    assert config.references(["concepts"]) == {"text_model.model": text}
    assert config.references(["images"]) == {"diffusion.model": "stabilityai/stable-diffusion-3.5-large-turbo"}
    # the quality filter reads images with the text model when there is no vision model
    assert config.references(["quality"]) == {"text_model.model": text}
    assert set(config.references()) == {"text_model.model", "diffusion.model", "captions.tokenizer"}


def main(argv: list[str]) -> int:
    return cli_main(["generate", *argv])


def test_cli_fails_clearly_before_loading_models(tiny_models, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--config", TINY, "--models-dir", str(tmp_path / "no-models"), "--output-dir", str(out), "--no-progress"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"diffusion.model='{tmp_path}/no-models/diffusion'" in error
    assert "pass the right --models-dir" in error and not out.exists()
    # nothing was started, so the right --models-dir runs in the same folder
    argv[argv.index("--models-dir") + 1] = str(tiny_models["diffusion"].parent)
    assert main([*argv, "--stages", "concepts"]) == 0
    capsys.readouterr()
    assert main([*argv, "--set", f"curated_path={tmp_path / 'missing.jsonl'}"]) == 2
    assert "missing.jsonl does not exist" in capsys.readouterr().err
    assert main([*argv, "--stages", "concepts,paint"]) == 2
    assert "unknown stage(s) ['paint']" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "nope.yaml"), "--output-dir", str(out)]) == 2
    assert not (out / "images").exists()
