"""The run config of a CulTwin generation run: validated dataclasses loaded from YAML.

A YAML file maps onto `GenerationConfig`; ``--set section.key=value`` overrides one field, and
``${models_dir}`` in any string is replaced by the ``--models-dir`` folder (the tiny config names
its checkpoints that way, so no path is hard-coded). The file is validated when it is read, by
pydantic in strict mode against the dataclasses' types (``vlm_scores: "false"``, ``countries: JP``,
``model: 42`` or an empty ``selection:`` section are errors, not coerced), then by each class's
``__post_init__``; ``cultureclip generate`` checks that every local path exists
(`GenerationConfig.local_paths`) before it starts the run folder, so nothing is checked only when
its model loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

from cultureclip.references import looks_like_path

from .records import CATEGORIES

STAGES = ("concepts", "twins", "captions", "images", "quality", "pairs")
SOURCES = ("curated", "top-down", "bottom-up")
BACKENDS = ("transformers", "openai")
TASKS = ("text-generation", "image-text-to-text")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {list(choices)}.")


def _check_positive(name: str, value, minimum=1) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}={value!r} must be a number >= {minimum}.")


def _check_count(name: str, value, minimum=1) -> None:
    """A count, size, number of steps or seed: an integer (``2.5`` captions or a ``42.0`` seed is an error)."""
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name}={value!r} must be a whole number >= {minimum}.")


@dataclass
class ModelConfig:
    """A language or vision-language model and how to call it.

    Args:
        model: Hub id or local folder (``transformers``), or the served model name (``openai``).
        backend: ``transformers`` (a local pipeline, batched) or ``openai`` (any OpenAI-compatible
            server: vLLM, TGI, ``transformers serve``).
        task: the local pipeline task: ``image-text-to-text`` (a VLM, also used for text-only
            prompts) or ``text-generation``.
        base_url: the server's ``/v1`` URL for the ``openai`` backend.
        api_key_env: environment variable that holds the server's API key, if it needs one.
        temperature: sampling temperature (0 means greedy).
        max_new_tokens: generation budget per answer.
        batch_size: prompts per local forward pass (``transformers``). A batch is sampled under its
            first item's seed, so the answers depend on the batch size (not on resumption).
        concurrency: requests in flight at once (``openai``).
        timeout_s: seconds before one request is abandoned and retried (``openai``).
        retries: extra tries of a request the server failed (connection, timeout, 5xx, 429).
        backoff_s: first wait between retries; doubles each time.
        max_attempts: times a malformed answer is asked again before the item is rejected.
        dtype: torch dtype of the local model (``auto``, ``bfloat16``, ``float16``, ``float32``).
    """

    model: str
    backend: str = "transformers"
    task: str = "image-text-to-text"
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.7
    max_new_tokens: int = 512
    batch_size: int = 8
    concurrency: int = 8
    timeout_s: float = 120.0
    retries: int = 3
    backoff_s: float = 1.0
    max_attempts: int = 3
    dtype: str = "auto"

    TRANSPORT: ClassVar[tuple[str, ...]] = (
        "base_url",
        "api_key_env",
        "concurrency",
        "timeout_s",
        "retries",
        "backoff_s",
    )
    """How a server is reached, not what it answers: changing these does not block a resume."""

    @property
    def round_size(self) -> int:
        """Items handed to the backend at once: a local batch, or as many requests as may be in flight."""
        return self.concurrency if self.backend == "openai" else self.batch_size

    def __post_init__(self):
        _check_choice("backend", self.backend, BACKENDS)
        _check_choice("task", self.task, TASKS)
        if self.backend == "openai" and not self.base_url:
            raise ValueError("backend 'openai' needs base_url, e.g. http://127.0.0.1:8000/v1.")
        if not isinstance(self.temperature, int | float) or self.temperature < 0:
            raise ValueError(f"temperature={self.temperature!r} must be >= 0.")
        for name in ("max_new_tokens", "batch_size", "concurrency", "max_attempts"):
            _check_count(name, getattr(self, name))
        _check_count("retries", self.retries, 0)
        _check_positive("timeout_s", self.timeout_s, 0.001)
        _check_positive("backoff_s", self.backoff_s, 0)
        _check_choice("dtype", self.dtype, ("auto", "bfloat16", "float16", "float32"))


@dataclass
class SelectionConfig:
    """Which part of the taxonomy (or of the curated list, or of the corpus concepts) to generate.

    Args:
        countries: ISO 3166-1 alpha-2 codes, or ``None`` for all.
        regions: continents (see `taxonomy.REGIONS`), or ``None`` for all.
        categories: a subset of the eight categories, or ``None`` for all.
        limit: at most this many curated twin pairs / taxonomy cells / corpus rows (``None``: all).
    """

    countries: list[str] | None = None
    regions: list[str] | None = None
    categories: list[str] | None = None
    limit: int | None = None

    def __post_init__(self):
        from .taxonomy import REGIONS, country

        for code in self.countries or []:
            country(code)
        codes = [code.upper() for code in self.countries or []]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError(f"selection.countries lists {repeated} more than once; name each country once.")
        bad = sorted(set(self.regions or []) - set(REGIONS))
        if bad:
            raise ValueError(f"selection.regions has unknown {bad}; choose from {list(REGIONS)}.")
        if self.categories is not None:
            bad = sorted(set(self.categories) - set(CATEGORIES))
            if bad:
                raise ValueError(f"selection.categories has unknown {bad}; choose from {list(CATEGORIES)}.")
        if self.limit is not None:
            _check_count("selection.limit", self.limit)

    def excluded(self, code: str, region: str, category: str) -> str | None:
        """Why a concept of country ``code`` (in ``region``) and ``category`` is outside the
        selection, or ``None`` when it is inside."""
        if self.countries is not None and code.upper() not in {c.upper() for c in self.countries}:
            return f"{code} is not in selection.countries {self.countries}"
        if self.regions is not None and region not in self.regions:
            return f"{code} ({region}) is not in selection.regions {self.regions}"
        if self.categories is not None and category not in self.categories:
            return f"category {category} is not in selection.categories {self.categories}"
        return None


@dataclass
class CaptionConfig:
    """Stage 5.

    Args:
        mode: ``llm`` (the text model writes them) or ``compose`` (built from the concept's own
            context and visual features, no model: the curated default).
        per_concept: captions per concept (the paper: 10).
        max_words: the most words a caption may have: the prompt asks for at most this many, and
            longer captions are rejected (the paper: under 15 words, so 14; CLIP reads 77 tokens).
        pairs_per_twin: caption pairs kept per twin: ``None`` means all per_concept x per_concept.
        tokenizer: the CLIP tokenizer (Hub id or local folder) that measures captions; ``None``
            skips the token check (``cultureclip validate-dataset`` still checks the release).
        max_tokens: captions longer than this many tokens are rejected (CLIP reads 77).
    """

    mode: str = "llm"
    per_concept: int = 10
    max_words: int = 20
    pairs_per_twin: int | None = None
    tokenizer: str | None = "openai/clip-vit-base-patch32"
    max_tokens: int = 77

    def __post_init__(self):
        _check_choice("captions.mode", self.mode, ("llm", "compose"))
        _check_count("captions.per_concept", self.per_concept)
        _check_count("captions.max_words", self.max_words, 3)
        _check_count("captions.max_tokens", self.max_tokens, 3)
        if self.pairs_per_twin is not None:
            _check_count("captions.pairs_per_twin", self.pairs_per_twin)


@dataclass
class DiffusionConfig:
    """Stage 6: any diffusers text-to-image pipeline.

    Args:
        model: Hub id or local folder of a ``DiffusionPipeline``.
        resolution: image width and height in pixels (a multiple of 8).
        steps: denoising steps.
        guidance_scale: classifier-free guidance (0 for turbo models).
        batch_size: prompts per pipeline call on each process.
        dtype: ``auto`` (bfloat16 on a GPU that has it, else float16; float32 on the CPU), or
            ``float16`` / ``bfloat16`` / ``float32``.
    """

    model: str = "stabilityai/stable-diffusion-3.5-large-turbo"
    resolution: int = 512
    steps: int = 4
    guidance_scale: float = 0.0
    batch_size: int = 4
    dtype: str = "auto"

    def __post_init__(self):
        _check_count("diffusion.resolution", self.resolution, 8)
        if self.resolution % 8:
            raise ValueError(f"diffusion.resolution={self.resolution} must be a multiple of 8.")
        _check_count("diffusion.steps", self.steps)
        _check_count("diffusion.batch_size", self.batch_size)
        _check_positive("diffusion.guidance_scale", self.guidance_scale, 0)
        _check_choice("diffusion.dtype", self.dtype, ("auto", "float16", "bfloat16", "float32"))


@dataclass
class QualityConfig:
    """Stage 7.

    Args:
        vlm_scores: ask the vision model for 1-5 authenticity, consistency and cultural fidelity
            scores (pass: no 1 and mean > 3).
        clip_model: a CLIP checkpoint for the optional CLIP-score (100 x cosine) of each image
            with its caption, or ``None``.
        min_clip_score: images under this CLIP-score fail (``None``: recorded, not filtered).
    """

    vlm_scores: bool = True
    clip_model: str | None = None
    min_clip_score: float | None = None

    def __post_init__(self):
        if self.min_clip_score is not None and self.clip_model is None:
            raise ValueError("quality.min_clip_score needs quality.clip_model (a CLIP checkpoint).")


@dataclass
class BottomUpConfig:
    """Stage 3 (optional): concepts from an image-text corpus (WIT-style), judged by the VLM.

    Args:
        dataset: Hub id or local path understood by ``datasets.load_dataset``.
        split: the split to read.
        title_column, description_column, caption_column, image_column: column names; the image
            column holds images (a ``datasets.Image`` feature) or local file paths, not URLs.
    """

    dataset: str | None = None
    split: str = "train"
    title_column: str = "page_title"
    description_column: str = "context_page_description"
    caption_column: str = "caption_reference_description"
    image_column: str = "image"


@dataclass
class GenerationConfig:
    """A whole CulTwin run. See ``configs/cultwin_paper.yaml`` and ``configs/cultwin_tiny.yaml``.

    Args:
        source: where concepts come from: ``curated`` (the shipped twin list: concepts and twins
            without a model), ``top-down`` (the text model over the taxonomy) or ``bottom-up``.
        seed: base seed; every item's seed is derived from it and the item's id.
        concepts_per_cell: concepts asked per (country, category) cell (top-down).
        curated_path: a curated twin list in the shipped format; ``None`` means the shipped one
            (the curated source and the prompts' few-shot examples).
        text_model: the model for every language step (``None`` when no stage needs one).
        vision_model: the model that reads images; ``None`` means `text_model` (one VLM for all).
    """

    source: str = "curated"
    seed: int = 42
    concepts_per_cell: int = 3
    curated_path: str | None = None
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    text_model: ModelConfig | None = None
    vision_model: ModelConfig | None = None
    captions: CaptionConfig = field(default_factory=CaptionConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    bottom_up: BottomUpConfig = field(default_factory=BottomUpConfig)

    def __post_init__(self):
        _check_choice("source", self.source, SOURCES)
        _check_count("concepts_per_cell", self.concepts_per_cell)
        _check_count("seed", self.seed, 0)
        needs_text = self.source != "curated" or self.captions.mode == "llm"
        if needs_text and self.text_model is None:
            raise ValueError(
                f"source={self.source!r} with captions.mode={self.captions.mode!r} needs text_model; "
                "set it, or use source 'curated' with captions.mode 'compose'."
            )
        if (self.quality.vlm_scores or self.source == "bottom-up") and self.reader is None:
            raise ValueError("quality.vlm_scores and source 'bottom-up' need vision_model (or text_model).")
        reads_images = self.quality.vlm_scores or self.source == "bottom-up"
        if reads_images and self.reader.backend == "transformers" and self.reader.task != TASKS[1]:
            raise ValueError(f"the model that reads images ({self.reader.model}) needs task 'image-text-to-text'.")
        if self.source == "bottom-up" and not self.bottom_up.dataset:
            raise ValueError("source 'bottom-up' needs bottom_up.dataset (a Hub id or local dataset path).")

    @property
    def reader(self) -> ModelConfig | None:
        """The model that reads images: `vision_model`, else `text_model`."""
        return self.vision_model or self.text_model

    def references(self, stages: Sequence[str] = STAGES) -> dict[str, str]:
        """The set fields naming a checkpoint, tokenizer or dataset (a Hub id or a local path) that
        ``stages`` read, by dotted name (an ``openai`` backend's model is the name the server serves,
        not a reference)."""
        reads_images = ("quality",) if self.quality.vlm_scores else ()
        readers = {
            "captions.tokenizer": ("captions",),
            "diffusion.model": ("images",),
            "quality.clip_model": ("quality",),
            "bottom_up.dataset": ("concepts",),
            "text_model.model": ("concepts", "twins", "captions", *(() if self.vision_model else reads_images)),
            "vision_model.model": reads_images,
        }
        references = {
            "captions.tokenizer": self.captions.tokenizer,
            "diffusion.model": self.diffusion.model,
            "quality.clip_model": self.quality.clip_model,
            "bottom_up.dataset": self.bottom_up.dataset,
        } | {
            f"{role}.model": model.model
            for role, model in (("text_model", self.text_model), ("vision_model", self.vision_model))
            if model is not None and model.backend == "transformers"
        }
        return {name: value for name, value in references.items() if value and set(readers[name]) & set(stages)}

    def local_paths(self, stages: Sequence[str] = STAGES) -> dict[str, str]:
        """The `references` of ``stages`` that `looks_like_path`, by dotted name."""
        return {name: value for name, value in self.references(stages).items() if looks_like_path(value)}

    def to_dict(self) -> dict:
        return asdict(self)

    def output_settings(self) -> dict:
        """`to_dict` without the models' `ModelConfig.TRANSPORT` fields: what a resume must match."""
        settings = self.to_dict()
        for role in ("text_model", "vision_model"):
            if settings[role] is not None:
                settings[role] = {k: v for k, v in settings[role].items() if k not in ModelConfig.TRANSPORT}
        return settings

    @classmethod
    def from_dict(cls, data: dict) -> GenerationConfig:
        """Validates ``data`` (a parsed YAML file) strictly; raises a one-line `ValueError` naming
        the first bad field and how to fix it."""
        from pydantic import TypeAdapter, ValidationError

        if not isinstance(data, dict):
            raise ValueError(f"the config must be a mapping of section: values, got {data!r}.")
        try:
            # JSON mode: strict about scalar types, yet sections may be given as mappings.
            return TypeAdapter(cls).validate_json(json.dumps(data, default=str))
        except ValidationError as error:
            raise ValueError(_describe(error.errors()[0])) from None


# How pydantic validates these dataclasses when a config is read (`GenerationConfig.from_dict`):
# no coercion ("false" stays a string, so it is refused) and no unknown keys.
for _section in (
    GenerationConfig,
    SelectionConfig,
    ModelConfig,
    CaptionConfig,
    DiffusionConfig,
    QualityConfig,
    BottomUpConfig,
):
    _section.__pydantic_config__ = {"strict": True, "extra": "forbid"}

_EXPECTED = {
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false (unquoted)",
    "string_type": "must be text (quote it in YAML)",
    "list_type": "must be a list, e.g. [a, b]",
    "dataclass_type": "must be a section of key: value lines",
}


def _describe(error: dict) -> str:
    """One pydantic error as one line that names the field, its value and the fix."""
    name = ".".join(str(part) for part in error["loc"])
    if error["type"] == "value_error":  # a __post_init__ check: its message already says it all
        return str(error["ctx"]["error"])
    if error["type"] == "unexpected_keyword_argument":
        return f"unknown key {name!r}; see configs/cultwin_paper.yaml for the known keys (check the spelling)."
    if error["type"] == "dataclass_type" and error["input"] is None:
        return f"section {name!r} is empty; give it key: value lines or remove it."
    expected = _EXPECTED.get(error["type"], f"is not valid ({error['msg']})")
    return f"{name}={error['input']!r} {expected}; fix it in the config or with --set {name}=VALUE."


_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def _substitute(value, variables: dict[str, str]):
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match):
        name = match.group(1)
        if name not in variables:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"the config uses ${{{name}}}; pass {flag} DIR (or --set the field directly).")
        return variables[name]

    return _PLACEHOLDER.sub(replace, value)


def load_config(
    path: str | Path, overrides: list[str] = (), variables: dict[str, str] | None = None
) -> GenerationConfig:
    """Reads and validates a YAML run config.

    Args:
        path: the YAML file.
        overrides: ``key.sub=value`` strings (`cultureclip.cli_args.parse_assignments`: the value
            is read as YAML: ``null``, numbers, lists).
        variables: values of ``${name}`` placeholders, e.g. ``{"models_dir": "tiny-models"}``.
    """
    import yaml

    from cultureclip.cli_args import parse_assignments

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist; see configs/ for examples.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML: {error}") from None
    for key, value in parse_assignments(list(overrides)).items():
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {key}=...: {part} is not a section.")
        node[leaf] = value
    data = _substitute(data, {k: str(v) for k, v in (variables or {}).items()})
    return GenerationConfig.from_dict(data)
