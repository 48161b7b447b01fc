"""Shared fixtures: the tiny plumbing checkpoints, built once per test session."""

from __future__ import annotations

import pytest

from modeling_cultureclip import make_tiny_models


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """``{"clip": Path, "diffusion": Path, "llm": Path, "vlm": Path}`` of random-weight models."""
    return make_tiny_models(tmp_path_factory.mktemp("tiny-models"))
