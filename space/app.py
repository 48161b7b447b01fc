"""CultureCLIP demo Space: base CLIP and CultureCLIP side by side on culturally similar concepts.

Three tabs: **Compare** (an uploaded or CulTwin image, labels from a category or typed; both models'
top labels), **Twins** (browse CulTwin twin pairs with both models' twin accuracy) and **Results**
(the model repository's evaluation table and plots).

Configuration: ``space_config.json`` beside this file, each key overridable by an environment
variable: ``CULTURECLIP_MODEL`` (model), ``CULTURECLIP_BASELINE`` (baseline), ``CULTURECLIP_DATASET``
(dataset), ``CULTURECLIP_SPLIT`` (split). Values are Hub ids or local folders. ``python app.py``
serves on ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT`` (Gradio's defaults: 127.0.0.1:7860).

This file needs only gradio, transformers, datasets and huggingface_hub: it is the Space's app as is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import gradio as gr
import torch
from datasets import load_dataset
from huggingface_hub import ModelCard, snapshot_download
from PIL import Image
from transformers import CLIPModel, CLIPProcessor

CONFIG_FILE = Path(__file__).with_name("space_config.json")
TEMPLATE = "This is a photo of {}."  # transformers' zero-shot-image-classification default
TOP_K = 5
ALL_CATEGORIES = "all categories"
ALL_REGIONS = "all regions"


@dataclass(frozen=True)
class SpaceConfig:
    """What the Space serves. Hub ids or local folders."""

    model: str
    baseline: str
    dataset: str
    split: str = "test"
    model_name: str = "CultureCLIP"
    baseline_name: str = "base CLIP"

    @classmethod
    def load(cls, path: Path = CONFIG_FILE, environ=os.environ) -> SpaceConfig:
        values = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {unknown}; use {[f.name for f in fields(cls)]}.")
        for f in fields(cls):
            values[f.name] = environ.get(f"CULTURECLIP_{f.name.upper()}", values.get(f.name))
        missing = [f.name for f in fields(cls)[:3] if not values.get(f.name)]
        if missing:
            raise ValueError(
                f"No {', '.join(missing)} to serve: set CULTURECLIP_{missing[0].upper()} (a Hub id or a local "
                f"folder) or write it into {path}."
            )
        return cls(**{k: v for k, v in values.items() if v is not None})


class Scorer:
    """One CLIP model with cached label and image embeddings (computed once, not per click)."""

    def __init__(self, name_or_path: str):
        self.model = CLIPModel.from_pretrained(name_or_path).eval()
        self.processor = CLIPProcessor.from_pretrained(name_or_path)
        self._texts: dict[tuple[str, ...], torch.Tensor] = {}
        self._images: dict[str, torch.Tensor] = {}

    @torch.inference_mode()
    def texts(self, labels: tuple[str, ...]) -> torch.Tensor:
        if labels not in self._texts:
            prompts = [TEMPLATE.format(label) for label in labels]
            inputs = self.processor(text=prompts, return_tensors="pt", padding=True, truncation=True)
            self._texts[labels] = self.model.get_text_features(**inputs).pooler_output
        return self._texts[labels]

    @torch.inference_mode()
    def image(self, image: Image.Image, key: str | None = None) -> torch.Tensor:
        if key is not None and key in self._images:
            return self._images[key]
        pixels = self.processor(images=[image], return_tensors="pt")["pixel_values"]
        embedding = self.model.get_image_features(pixel_values=pixels).pooler_output[0]
        if key is not None:
            self._images[key] = embedding
        return embedding

    def probabilities(self, image_embedding: torch.Tensor, labels: tuple[str, ...]) -> dict[str, float]:
        """Softmax over the labels of the scaled cosine similarities, as the zero-shot pipeline computes it."""
        image = image_embedding / image_embedding.norm()
        texts = self.texts(labels)
        texts = texts / texts.norm(dim=-1, keepdim=True)
        logits = self.model.logit_scale.exp() * texts @ image
        return dict(zip(labels, logits.softmax(dim=0).tolist()))


@dataclass
class TwinPair:
    """Two concepts of CulTwin that look alike and belong to different cultures, with their images."""

    a: dict
    b: dict
    accuracy: dict[str, float] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return self.a["category"]

    def row(self, names: tuple[str, str]) -> list:
        return [
            f"{self.a['concept']} ({self.a['country']})",
            f"{self.b['concept']} ({self.b['country']})",
            self.category,
            " / ".join(sorted({self.a["region"], self.b["region"]})),
            *(f"{self.accuracy[name]:.0%}" for name in names),
        ]


class Demo:
    """The Space's logic, independent of the UI (so it can be tested and reused)."""

    def __init__(self, config: SpaceConfig):
        self.config = config
        self.names = (config.baseline_name, config.model_name)
        self.scorers = {config.baseline_name: Scorer(config.baseline), config.model_name: Scorer(config.model)}
        concepts = load_dataset(config.dataset, "concepts", split=config.split)
        category_names = concepts.features["category"].names
        self.concepts = {row["concept_id"]: row | {"category": category_names[row["category"]]} for row in concepts}
        self.pairs = self._pairs()
        self.examples = [
            (f"{c['concept']} ({c['country']}) #{i + 1}", concept_id, i)
            for concept_id, c in self.concepts.items()
            for i in range(len(c["images"]))
        ]
        self.categories = sorted({c["category"] for c in self.concepts.values()})
        self.regions = sorted({c["region"] for c in self.concepts.values()})

    def _pairs(self) -> list[TwinPair]:
        pairs, seen = [], set()
        for concept_id, concept in self.concepts.items():
            twin_id = concept["twin_concept_id"]
            key = frozenset((concept_id, twin_id))
            if twin_id in self.concepts and key not in seen:
                seen.add(key)
                pair = TwinPair(concept, self.concepts[twin_id])
                pair.accuracy = {name: self.twin_accuracy(pair, scorer) for name, scorer in self.scorers.items()}
                pairs.append(pair)
        return pairs

    def twin_accuracy(self, pair: TwinPair, scorer: Scorer) -> float:
        """Share of the pair's images whose own concept scores above its twin's."""
        labels = (pair.a["concept"], pair.b["concept"])
        hits = [
            scorer.probabilities(scorer.image(image, f"{side['concept_id']}/{i}"), labels)[side["concept"]] > 0.5
            for side in (pair.a, pair.b)
            for i, image in enumerate(side["images"])
        ]
        return sum(hits) / len(hits)

    def labels_for(self, category: str | None, typed: str) -> tuple[str, ...]:
        labels = tuple(dict.fromkeys(label.strip() for label in typed.split(",") if label.strip()))
        if labels:
            if len(labels) < 2:
                raise gr.Error(f"Type at least two labels separated by commas (got {typed!r}).")
            return labels
        chosen = [c for c in self.concepts.values() if category in (None, ALL_CATEGORIES, c["category"])]
        return tuple(dict.fromkeys(c["concept"] for c in chosen))

    def example(self, choice: str) -> tuple[Image.Image, str]:
        """A CulTwin image by its dropdown label, and the image key that marks it as CulTwin's."""
        for label, concept_id, index in self.examples:
            if label == choice:
                return self.concepts[concept_id]["images"][index], f"{concept_id}/{index}"
        raise gr.Error(f"Unknown CulTwin image {choice!r}.")

    def compare(self, image, key: str | None, category: str | None, typed: str):
        """Both models' label probabilities for ``image``, and a note on the true concept and its twin."""
        if image is None:
            raise gr.Error("Upload an image or pick one from CulTwin first.")
        labels = self.labels_for(category, typed or "")
        concept = self.concepts[key.split("/")[0]] if key else None
        if concept is not None and not typed:
            labels = tuple(dict.fromkeys((*labels, concept["concept"], concept["twin_concept"])))
        results = {
            name: scorer.probabilities(scorer.image(image, key), labels) for name, scorer in self.scorers.items()
        }
        return (*results.values(), self._note(concept, results))

    def _note(self, concept: dict | None, results: dict[str, dict[str, float]]) -> str:
        if concept is None:
            return "An uploaded image: no true label is known."
        lines = [
            f"**True concept: {concept['concept']}** ({concept['country']}, {concept['category']}). "
            f"Its twin: **{concept['twin_concept']}**.",
            "",
            "| model | rank of the true concept | its probability | probability of the twin |",
            "|---|---|---|---|",
        ]
        for name, probs in results.items():
            ranking = sorted(probs, key=probs.get, reverse=True)
            true, twin = concept["concept"], concept["twin_concept"]
            lines.append(
                f"| {name} | {ranking.index(true) + 1} of {len(ranking)} | {probs[true]:.1%} | {probs[twin]:.1%} |"
            )
        return "\n".join(lines)

    def twins_table(self, category: str, region: str) -> list[list]:
        return [pair.row(self.names) for pair in self._filtered(category, region)]

    def _filtered(self, category: str, region: str) -> list[TwinPair]:
        return [
            p
            for p in self.pairs
            if category in (ALL_CATEGORIES, p.category) and region in (ALL_REGIONS, p.a["region"], p.b["region"])
        ]

    def pair_details(self, category: str, region: str, index: int):
        pair = self._filtered(category, region)[index]
        gallery = [
            (image, f"{side['concept']}: {caption}")
            for side in (pair.a, pair.b)
            for image, caption in zip(side["images"], side["captions"])
        ]
        text = "\n\n".join(
            f"**{side['concept']}** ({side['country']}, {side['region']}): {side['context']}  \n"
            f"*Visual features:* {side['visual_features']}"
            for side in (pair.a, pair.b)
        )
        accuracy = ", ".join(f"{name}: {pair.accuracy[name]:.0%}" for name in self.names)
        return gallery, f"{text}\n\n**Twin accuracy** ({accuracy})"

    def results(self) -> tuple[list[list], list[str]]:
        """The model repository's evaluation results (its card's model-index) and plots."""
        local = Path(self.config.model)
        folder = (
            local
            if local.is_dir()
            else Path(snapshot_download(self.config.model, allow_patterns=["README.md", "plots/*"]))
        )
        card = ModelCard.load(folder / "README.md")
        rows = [[r.dataset_name, r.metric_name or r.metric_type, r.metric_value] for r in card.data.eval_results or []]
        return rows, sorted(str(p) for p in (folder / "plots").glob("*.png"))


def _shown(name_or_path: str, kind: str = "") -> str:
    """A Hub id as a link (``kind`` "datasets/" for a dataset); a local folder by its name only."""
    if Path(name_or_path).is_dir():
        return f"the local folder `{Path(name_or_path).name}`"
    return f"[`{name_or_path}`](https://huggingface.co/{kind}{name_or_path})"


def build_ui(demo: Demo) -> gr.Blocks:
    names = demo.names
    with gr.Blocks(title="CultureCLIP") as ui:
        config = demo.config
        gr.Markdown(
            f"# CultureCLIP\nCLIP fine-tuned to tell apart concepts that look alike but belong to different "
            f"cultures. Model: {_shown(config.model)}; baseline: {_shown(config.baseline)}; data: "
            f"{_shown(config.dataset, 'datasets/')} ({config.split} split)."
        )
        with gr.Tab("Compare"):
            key = gr.State(None)
            with gr.Row():
                with gr.Column():
                    image = gr.Image(type="pil", label="Image", elem_id="image")
                    example = gr.Dropdown(
                        [label for label, _, _ in demo.examples],
                        value=None,
                        label="…or a CulTwin image",
                        elem_id="example",
                    )
                    category = gr.Dropdown(
                        [ALL_CATEGORIES, *demo.categories],
                        value=ALL_CATEGORIES,
                        label="Labels: CulTwin concepts of",
                        elem_id="category",
                    )
                    typed = gr.Textbox(label="…or your own labels, comma-separated", elem_id="labels")
                    run = gr.Button("Compare", variant="primary", elem_id="compare")
                base = gr.Label(num_top_classes=TOP_K, label=names[0], elem_id="baseline-result")
                tuned = gr.Label(num_top_classes=TOP_K, label=names[1], elem_id="model-result")
            note = gr.Markdown(elem_id="note")
            example.input(demo.example, example, [image, key])
            image.upload(lambda: None, None, key)
            run.click(demo.compare, [image, key, category, typed], [base, tuned, note])
        with gr.Tab("Twins", elem_id="twins-tab"):
            with gr.Row():
                twin_category = gr.Dropdown([ALL_CATEGORIES, *demo.categories], value=ALL_CATEGORIES, label="Category")
                region = gr.Dropdown([ALL_REGIONS, *demo.regions], value=ALL_REGIONS, label="Region")
            headers = ["concept", "twin", "category", "region", *(f"twin accuracy: {n}" for n in names)]
            table = gr.Dataframe(
                demo.twins_table(ALL_CATEGORIES, ALL_REGIONS), headers=headers, interactive=False, elem_id="twins"
            )
            gallery = gr.Gallery(label="Images and captions", columns=4, elem_id="pair-images")
            details = gr.Markdown("Click a pair to see its images, captions and context.", elem_id="pair-details")
            for control in (twin_category, region):
                control.change(demo.twins_table, [twin_category, region], table)

            def show(category: str, region: str, selected: gr.SelectData):
                return demo.pair_details(category, region, selected.index[0])

            table.select(show, [twin_category, region], [gallery, details])
        with gr.Tab("Results"):
            rows, plots = demo.results()
            gr.Dataframe(rows, headers=["benchmark", "metric", "value"], interactive=False, elem_id="results")
            gr.Gallery(plots, label="Plots", columns=2)
    return ui


def main() -> None:
    build_ui(Demo(SpaceConfig.load())).launch()


if __name__ == "__main__":
    main()
