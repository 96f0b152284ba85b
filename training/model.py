"""Small randomly initialised vision-language models of the families people fine-tune.

`build_tiny_model` makes one from configs alone (no download) with its processor: a word-level
tokenizer trained on the given texts, the family's image processor and a ChatML chat template
that places the family's image tokens. Tests and the GPU check train them; real runs point
`train.checkpoint` at a saved model and processor (whose own chat template is used).

- `llava`: SigLIP vision tower, MLP projector, Qwen2 language model (the reference's layout);
- `qwen2_vl`: Qwen2-VL (its own vision transformer with patch merger, M-RoPE).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

Family = Literal["llava", "qwen2_vl"]
FAMILIES: tuple[Family, ...] = ("llava", "qwen2_vl")
CHAT_TOKENS = ["<|im_start|>", "<|im_end|>"]
IMAGE_TOKENS = {
    "llava": ["<image>"],
    "qwen2_vl": ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"],
}
IMAGE_PLACEHOLDER = {"llava": "<image>", "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>"}


def chat_template(image_placeholder: str) -> str:
    """ChatML; an image part of a message becomes the family's image placeholder."""
    return (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for part in message['content'] %}"
        "{% if part['type'] == 'image' %}" + image_placeholder + "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
        "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


def _tokenizer(texts: list[str], family: Family):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", *CHAT_TOKENS, *IMAGE_TOKENS[family]]
    core = Tokenizer(models.WordLevel(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    words = [*texts, "user assistant system"]
    core.train_from_iterator(words, trainers.WordLevelTrainer(special_tokens=specials, min_frequency=1))
    extra = {"image_token": IMAGE_TOKENS[family][0] if family == "llava" else "<|image_pad|>"}
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", eos_token="<|im_end|>", extra_special_tokens=extra,
    )


def build_tiny_model(
    family: Family, out: Path, texts: list[str], hidden: int = 32, layers: int = 2, image_size: int = 32, patch: int = 8,
) -> Path:
    """Save a random `family` model and its processor to `out`; returns `out`."""
    from transformers.utils import logging as hf_logging

    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    hf_logging.disable_progress_bar()
    tokenizer = _tokenizer(texts, family)
    template = chat_template(IMAGE_PLACEHOLDER[family])
    text = dict(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
    )
    if family == "llava":
        model, processor = _llava(tokenizer, template, text, hidden, image_size, patch)
    else:
        model, processor = _qwen2_vl(tokenizer, template, text, hidden, image_size, patch)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _llava(tokenizer, template, text, hidden, image_size, patch):
    from transformers import (
        LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, Qwen2Config, SiglipImageProcessorPil, SiglipVisionConfig,
    )

    processor = LlavaProcessor(
        image_processor=SiglipImageProcessorPil(size={"height": image_size, "width": image_size}), tokenizer=tokenizer,
        patch_size=patch, vision_feature_select_strategy="full", num_additional_image_tokens=0, chat_template=template,
    )
    config = LlavaConfig(
        vision_config=SiglipVisionConfig(
            hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=1, num_attention_heads=2,
            image_size=image_size, patch_size=patch,
        ),
        text_config=Qwen2Config(**text),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    return LlavaForConditionalGeneration(config), processor


def _qwen2_vl(tokenizer, template, text, hidden, image_size, patch):
    from transformers import (
        Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil, Qwen2VLProcessor, Qwen2VLVideoProcessor,
    )

    merge = 2
    side = patch * merge  # images resize to multiples of this
    pixels = (image_size // side * side) ** 2
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessorPil(
            patch_size=patch, merge_size=merge, temporal_patch_size=2, size={"shortest_edge": side * side, "longest_edge": pixels},
        ),
        video_processor=Qwen2VLVideoProcessor(patch_size=patch, merge_size=merge, temporal_patch_size=2),
        tokenizer=tokenizer, chat_template=template,
    )
    head_dim = hidden // 2
    config = Qwen2VLConfig(
        text_config={**text, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                  "mrope_section": [head_dim // 4, head_dim // 8, head_dim // 8]}},
        vision_config={"depth": 1, "embed_dim": hidden, "hidden_size": hidden, "num_heads": 2, "mlp_ratio": 2,
                       "patch_size": patch, "spatial_merge_size": merge, "temporal_patch_size": 2},
        image_token_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"),
    )
    return Qwen2VLForConditionalGeneration(config), processor
