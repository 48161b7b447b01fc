"""`resolve_revision` without the Hub: what it gives back when it must not ask.

Against a Hub server it is tested in test_hub_olah.py (train and evaluate record the commit).
"""

from __future__ import annotations

import pytest

from cultureclip.dataset_builder.revisions import resolve_revision


@pytest.fixture
def no_hub(monkeypatch):
    import huggingface_hub

    def refuse(*args, **kwargs):
        raise AssertionError("the Hub was asked")

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", refuse)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", refuse)


def test_a_local_folder_keeps_its_revision(no_hub, tmp_path):
    assert resolve_revision(str(tmp_path)) is None
    assert resolve_revision(str(tmp_path), "v1", "model") == "v1"


def test_offline_mode_keeps_the_requested_revision(no_hub, monkeypatch):
    from datasets import config

    monkeypatch.setattr(config, "HF_HUB_OFFLINE", True)
    assert resolve_revision("org/cultwin", "main") == "main"
    assert resolve_revision("org/cultureclip", repo_type="model") is None
