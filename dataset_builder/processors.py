"""A VLM's processor without its video processor, for machines without torchvision.

transformers' Qwen2-VL / Qwen2.5-VL processors take an image processor, a tokenizer and a video
processor; every video processor needs torchvision, and ``ProcessorMixin`` cannot even type-check a
``video_processor=None`` without it (``VideoProcessorMixin`` is only exported with torchvision). The
image side needs no torchvision: ``AutoImageProcessor`` falls back to the PIL image processor
(``Qwen2VLImageProcessorPil``) with the same pixel bounds, patches and normalisation. So the
processor is built from the checkpoint's own processor class with the video processor left out:
the same image tokens, chat template and text processing, and images only.
"""

from __future__ import annotations

import inspect


def image_only_processor_class(model: str):
    """The checkpoint's processor class with the video processor left out, or ``None`` when its
    processor has no video processor to leave out.

    Args:
        model: a model folder or Hub id.
    """
    from transformers import AutoConfig
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES, processor_class_from_name

    name = PROCESSOR_MAPPING_NAMES.get(AutoConfig.from_pretrained(model).model_type)
    processor_class = processor_class_from_name(name) if name else None
    if processor_class is None or "video_processor" not in inspect.signature(processor_class.__init__).parameters:
        return None

    class ImageOnlyProcessor(processor_class):
        # ProcessorMixin takes its sub-processors from this signature: the video processor is not one, and
        # the parent's positional ``None`` for it lies beyond the attributes, so it is never checked or set.
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    ImageOnlyProcessor.__name__ = ImageOnlyProcessor.__qualname__ = f"{processor_class.__name__}ImageOnly"
    return ImageOnlyProcessor


def load_image_only_processor(model: str):
    """Loads ``model``'s processor (image processor, tokenizer, chat template) without a video
    processor, exactly as ``AutoProcessor.from_pretrained`` loads those parts; ``None`` when its
    processor class has no video processor (then it does not need this)."""
    processor_class = image_only_processor_class(model)
    return None if processor_class is None else processor_class.from_pretrained(model)
