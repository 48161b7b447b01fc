"""Issue 14.17 and 14.18: config values are checked as they are read (types never coerced), and
transport settings never block a resume."""

import pytest

from cultureclip.dataset_builder.config import load_config


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["quality.min_clip_score=high", "quality.clip_model=m"], "quality.min_clip_score='high' must be a number"),
        (["diffusion.model=42"], "diffusion.model=42 must be text"),
        (["selection=null"], "section 'selection' is empty"),
        (["selection.countries=JP"], "selection.countries='JP' must be a list"),
        (["quality.vlm_scores='false'"], "quality.vlm_scores='false' must be true or false"),
        (["captions.tokenizer=[a]"], "captions.tokenizer=\\['a'\\] must be text"),
    ],
)
def test_wrong_types_are_refused_as_the_config_is_read(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config("configs/cultwin_tiny.yaml", overrides, {"models_dir": "m"})


def test_transport_settings_do_not_block_a_resume(tmp_path):
    """Issue 14.18: a new server address, timeout, retries, concurrency or key variable changes how
    answers are fetched, not what they are; the run resumes and records the new settings."""
    from cultureclip.dataset_builder.generate import start_run
    from cultureclip.dataset_builder.run_folder import write_run_record

    served = "text_model={model: m, backend: openai, base_url: 'http://a:8000/v1'}"
    first = load_config("configs/cultwin_paper.yaml", [served])
    write_run_record(tmp_path, start_run(first, tmp_path))
    moved = "text_model={model: m, backend: openai, base_url: 'http://b:9000/v1', timeout_s: 5, retries: 0, "
    moved += "concurrency: 2, api_key_env: KEY, backoff_s: 0.5}"
    record = start_run(load_config("configs/cultwin_paper.yaml", [moved]), tmp_path)
    assert record.config["text_model"]["base_url"] == "http://b:9000/v1"
    sampled = "text_model={model: m, backend: openai, base_url: 'http://a:8000/v1', temperature: 0.1}"
    with pytest.raises(ValueError, match=r"differs in \['text_model'\]"):
        start_run(load_config("configs/cultwin_paper.yaml", [sampled]), tmp_path)
