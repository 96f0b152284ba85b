"""A LLaVA-style model (vision tower, MLP projector, causal LM) and its processor.

`build_tiny_llava` makes a randomly initialised one from configs alone (no download): a
SigLIP vision tower and a Qwen2 language model, as in the reference, at toy sizes, with a
word-level tokenizer trained on the given texts. Tests and the GPU check train it; real runs
point `train.checkpoint` at a saved model and processor instead.
"""
from __future__ import annotations

from pathlib import Path

IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ["<pad>", "<unk>", "<|endoftext|>", IMAGE_TOKEN]


def build_tiny_llava(out: Path, texts: list[str], hidden: int = 32, layers: int = 2, image_size: int = 32, patch: int = 8) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import (
        LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast, Qwen2Config,
        SiglipImageProcessorPil, SiglipVisionConfig,
    )

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    core = Tokenizer(models.WordLevel(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS, min_frequency=1))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", eos_token="<|endoftext|>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
    )
    image_processor = SiglipImageProcessorPil(size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=patch,
        vision_feature_select_strategy="full", num_additional_image_tokens=0,
    )
    config = LlavaConfig(
        vision_config=SiglipVisionConfig(
            hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=1, num_attention_heads=2,
            image_size=image_size, patch_size=patch,
        ),
        text_config=Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        ),
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    model = LlavaForConditionalGeneration(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
