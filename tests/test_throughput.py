"""`benchmarks.generate.diffusion_throughput` and `vlm_throughput` (the GPU check's figures) at a tiny
size on CPU: the tiny models by default, the paper replicas in the slow run."""

import pytest

from benchmarks.generate import diffusion_throughput, vlm_throughput


def check(diffusion, vlm):
    images = diffusion_throughput(str(diffusion), "cpu", resolution=32, steps=2, n_images=3)
    assert images["n_images"] == 3 and images["images_per_s"] == pytest.approx(3 / images["seconds"])
    assert images["peak_memory_mb"] > 0 and images["memory"] == "process peak RSS"
    assert (images["dtype"], images["resolution"], images["steps"]) == ("float32", 32, 2)
    tokens = vlm_throughput(str(vlm), "cpu", max_new_tokens=3, n_prompts=2)
    assert tokens["generated_tokens"] == 6 and tokens["tokens_per_s"] == pytest.approx(6 / tokens["seconds"])
    assert tokens["prompt_tokens"] > 100 and tokens["peak_memory_mb"] > 0  # the real captions prompt


def test_throughput_on_the_tiny_models(tiny_models):
    check(tiny_models["diffusion"], tiny_models["vlm"])


@pytest.mark.slow
def test_throughput_on_the_paper_replicas(paper_replicas):
    check(paper_replicas["diffusion"], paper_replicas["vlm"])
