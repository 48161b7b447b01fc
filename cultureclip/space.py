"""The demo Space, the third artifact: a Gradio app comparing base CLIP and CultureCLIP.

`build_space_repo` lays out the Space repository: ``app.py`` (``space/app.py`` of this project, which
needs no project code), ``space_config.json`` (what it serves), ``requirements.txt`` pinned to the
versions installed here (the ones the tests ran) and a ``README.md`` with the Space metadata, whose
``models:`` and ``datasets:`` make the Hub cross-link the three artifacts.
"""

from __future__ import annotations

import json
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .hub import RepoFolder

# What app.py imports, pinned to the installed versions: the Space runs what the tests ran.
REQUIREMENTS = ("gradio", "transformers", "datasets", "huggingface_hub", "torch", "pillow")
DEFAULT_BASELINE = "openai/clip-vit-base-patch32"
SPACE_README = """\
# CultureCLIP demo

CLIP confuses concepts that look alike but belong to different cultures. This Space shows
[`{model}`](https://huggingface.co/{model}) (CultureCLIP, fine-tuned on
[`{dataset}`](https://huggingface.co/datasets/{dataset})) next to its base model
[`{baseline}`](https://huggingface.co/{baseline}):

- **Compare**: upload a photo or pick a CulTwin image, choose the labels (a category's concepts or
  your own), and see both models' top labels; for a CulTwin image, where the true concept and its
  twin rank.
- **Twins**: browse CulTwin's twin pairs ({split} split) by category and region, with each model's
  twin accuracy on the pair's images.
- **Results**: the evaluation results of the model repository.

Method: *CultureCLIP: Empowering CLIP with Cultural Awareness through Synthetic Images and
Contextualized Captions* ([arXiv 2507.06210](https://arxiv.org/abs/2507.06210)).
"""


def requirements() -> str:
    """``requirements.txt`` of the Space: each library app.py needs, at its installed version."""
    lines = []
    for name in REQUIREMENTS:
        try:
            # A local version label (torch's "+cpu") names a build no package index serves.
            lines.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:
            raise ValueError(
                f"{name} is not installed, so the Space's requirements cannot be pinned to a tested version: "
                "pip install 'cultureclip[space]'."
            ) from None
    return "\n".join(lines) + "\n"


def build_space_repo(
    repo_id: str,
    output_dir: str | Path,
    *,
    model: str,
    dataset: str,
    baseline: str = DEFAULT_BASELINE,
    split: str = "test",
    license: str = "apache-2.0",
    overwrite: bool = False,
) -> RepoFolder:
    """Builds the Space repository folder for ``repo_id``, serving ``model`` against ``baseline``.

    Args:
        repo_id: the Space repository, ``org/name``.
        output_dir: the folder to build (absent or empty unless ``overwrite``).
        model: Hub id of the CultureCLIP model.
        dataset: Hub id of the CulTwin dataset (its ``concepts`` config is browsed).
        baseline: Hub id of the model to compare with (the base CLIP).
        split: the dataset split the Space shows.
        license: the card's license.
        overwrite: replace a non-empty ``output_dir``.

    Raises:
        ValueError: an id is not a Hub id, or a library to pin is not installed.
    """
    from huggingface_hub import SpaceCard, SpaceCardData
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from .output_dirs import atomic_output_dir
    from .resources import project_file

    for option, value in (("--repo-id", repo_id), ("--model-repo", model), ("--dataset-repo", dataset)):
        try:
            validate_repo_id(value)
        except HFValidationError:
            raise ValueError(f"{option} {value!r} is not a Hub repository id: give org/name.") from None
        if "/" not in value:
            raise ValueError(f"{option} {value!r} is not a Hub repository id: give org/name.")
    pinned = requirements()
    output_dir = Path(output_dir)
    config = {"model": model, "baseline": baseline, "dataset": dataset, "split": split}
    data = SpaceCardData(
        title="CultureCLIP",
        emoji="🥟",
        colorFrom="yellow",
        colorTo="red",
        sdk="gradio",
        sdk_version=version("gradio"),
        app_file="app.py",
        license=license,
        models=[model, baseline],
        datasets=[dataset],
        short_description="Base CLIP vs CultureCLIP on look-alike concepts of different cultures",
    )
    card = SpaceCard(f"---\n{data.to_yaml()}\n---\n\n" + SPACE_README.format(**config))
    with atomic_output_dir(output_dir, overwrite=overwrite) as staged:
        shutil.copy2(project_file("space/app.py"), staged / "app.py")
        (staged / "space_config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        (staged / "requirements.txt").write_text(pinned, encoding="utf-8")
        card.save(staged / "README.md")
    return RepoFolder.scan(output_dir, repo_id, "space", f"https://huggingface.co/spaces/{repo_id}")
