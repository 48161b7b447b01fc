"""Test helpers of the CLIP replica: small shapes, varied captions, a fresh-process load check.

Each caption carries the category it was drawn for, so a failure names what kind of text broke.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

from cultureclip.testing.replica_clip import ClipReplicaShape

# Real widths, two layers per tower: the architecture of ViT-B/32 at a fraction of the build time.
NARROW = ClipReplicaShape(text_layers=2, vision_layers=2)
# The real vocabulary, config ids and processor with small towers: seconds per training step.
MINI = ClipReplicaShape(text_width=64, text_layers=1, text_heads=2, vision_width=64, vision_layers=1, vision_heads=2)

SUBJECTS = [
    "a bowl of ramen", "a woman in a kimono", "a man wearing a sombrero", "the Dragon Boat festival",
    "a plate of jollof rice", "pierogi on a wooden table", "a Maasai shúkà", "an Inuit qulliq lamp",
    "a street market in Marrakech", "a wedding sari", "a Día de Muertos altar", "St. Patrick's Day parade",
]  # fmt: skip
SCRIPTS = {
    "accents": ["café crème", "crème brûlée", "São Paulo", "Zürich", "smørrebrød", "piñata", "Ærø", "naïve façade",
                "Łódź", "İstanbul", "Dvořák", "Hà Nội phở", "ÉCOLE"],
    "cjk": ["日本の着物", "北京烤鸭", "한복을 입은 여인", "春节的饺子", "お祭りの屋台", "漢字とかな", "떡볶이"],
    "arabic": ["كسكس مغربي", "القهوة العربية", "عيد الفطر", "شاي بالنعناع"],
    "other_scripts": ["борщ в горшке", "ΣΟΥΒΛΑΚΙ ΚΑΙ ΓΥΡΟΣ", "दिवाली के दीये", "ผัดไทย", "ጥብስ", "שבת שלום", "Ελληνικός καφές"],
    "emoji": ["🎎", "🍜🍣", "👩🏽‍🍳", "🇯🇵🇲🇽", "❤️", "🎉🎉🎉", "🫖", "☕︎"],
    "punctuation": ["...", "—", "!!!", "(yes)", "a/b", "it's", "don't", "we'll", "50%", "#1", "@home", "x2.5",
                    "[sic]", "{tag}", "e.g.,", "1,234.56", "2024-01-01", "\"quoted\"", "C'est la vie", "rock'n'roll"],
    "ftfy": ["“curly”", "‘single’", "ﬁesta", "ＦＵＬＬ", "cafÃ©", "l’été", "…"],
    "html": ["&amp;", "&quot;tea&quot;", "&#39;s", "&lt;b&gt;", "fish &amp;amp; chips", "&eacute;t&eacute;", "&nbsp;"],
}  # fmt: skip
WHITESPACE = [" ", "  ", "\t", "\n", " \n\t ", "\u00a0", "\u3000", "\r\n", "\u2009"]
TEMPLATES = ["a photo of {}.", "{}", "A picture of {} in {}", "{} — {}", "{}, {} and {}!", "  {}  ", "{}: {}"]


def caption(rng: random.Random, category: str) -> str:
    """One caption of ``category``: a template filled with subjects and fragments of that category."""
    if category == "whitespace":
        words = rng.choice(SUBJECTS).split()
        return rng.choice(WHITESPACE) + "".join(w + rng.choice(WHITESPACE) for w in words)
    if category == "long":
        parts = [rng.choice(SUBJECTS) + rng.choice([",", " and", " with", ";"]) for _ in range(rng.randint(15, 40))]
        return " ".join(parts)
    template = rng.choice(TEMPLATES)
    pool = SUBJECTS if category == "plain" else SCRIPTS[category]
    fills = [rng.choice(pool) if rng.random() < 0.7 else rng.choice(SUBJECTS) for _ in range(template.count("{}"))]
    text = template.format(*fills)
    return text.upper() if rng.random() < 0.1 else text


CATEGORIES = ["plain", *SCRIPTS, "whitespace", "long"]


def captions(count: int = 1200, seed: int = 0) -> list[tuple[str, str]]:
    """``count`` ``(category, caption)`` pairs, cycling through the categories."""
    rng = random.Random(seed)
    return [(CATEGORIES[i % len(CATEGORIES)], caption(rng, CATEGORIES[i % len(CATEGORIES)])) for i in range(count)]


LOAD_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor, pipeline
    path = sys.argv[1]
    model, processor = CLIPModel.from_pretrained(path), CLIPProcessor.from_pretrained(path)
    image = Image.fromarray((np.random.default_rng(0).random((300, 400, 3)) * 255).astype("uint8"))
    inputs = processor(text=["a photo of a cat"], images=image, return_tensors="pt", padding=True)
    assert inputs["pixel_values"].shape == (1, 3, 224, 224), inputs["pixel_values"].shape
    assert inputs["input_ids"][0].tolist() == [49406, 320, 1125, 539, 320, 2368, 49407], inputs["input_ids"]
    with torch.no_grad():
        assert model(**inputs).logits_per_image.shape == (1, 1)
    scores = pipeline("zero-shot-image-classification", model=path)(image, candidate_labels=["cat", "dog"])
    assert sorted(s["label"] for s in scores) == ["cat", "dog"]
    assert not [m for m in sys.modules if m.startswith("cultureclip")]
    print("loaded")
    """
)


def load_in_fresh_process(path: Path) -> None:
    """Loads ``path`` with the standard APIs in a new process: no project code, no network."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(path)], capture_output=True, text=True, timeout=600, env=env
    )
    assert result.returncode == 0 and "loaded" in result.stdout, result.stderr[-3000:]
