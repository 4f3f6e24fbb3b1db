"""Tiny random-weight Qwen3-VL and Qwen2.5-VL checkpoints, built offline from configs.

Each builder writes the files a real Hub repo holds (config.json with rope_scaling + rope_theta,
model.safetensors, tokenizer.json, chat_template.jinja, preprocessor_config.json,
video_preprocessor_config.json), so a folder built under transformers 5.x or 4.57 loads with
AutoProcessor + AutoModelForImageTextToText under both (checked both ways). The vision patch and merge
sizes are the real ones (16/2 for Qwen3-VL, 14/2 for Qwen2.5-VL), so the resize math a box parser
depends on is the real one; min/max pixels are tiny, so a 64x48 image gives 16 patches, 4 tokens.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

#: Qwen's special tokens, in Qwen's order (ids follow the trained vocabulary here).
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
                  "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
                  "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
                  "<|image_pad|>", "<|video_pad|>"]
#: Resize bounds (pixels) for the tiny processors: 64x48 -> 64x64 (Qwen3-VL) or 56x56 (Qwen2.5-VL).
TINY_MIN_PIXELS = 32 * 32
TINY_MAX_PIXELS = 128 * 128

_CORPUS = [
    "The photo shows a person standing near a window, a dog on the grass and a red car.",
    'Detect every person and answer in JSON: [{"bbox_2d": [12, 40, 300, 620], "label": "person"}]',
    "Return the head, the face, the hands and the full body of each subject as boxes.",
    "system user assistant You are a helpful assistant. Describe the image briefly.",
    "0123456789 {}[](),.:;\"'-_ bbox_2d label point_2d confidence subject main secondary",
]

# Qwen2.5-VL's template (default system prompt); Qwen3-VL's instruct template has none.
_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}__SYSTEM__{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN25_CHAT_TEMPLATE = _TEMPLATE.replace(
    "__SYSTEM__", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
QWEN3_CHAT_TEMPLATE = _TEMPLATE.replace("__SYSTEM__", "")


def _default_corpus() -> list[str]:
    # ShotCrop's own prompt text too, so real prompts stay a few hundred tokens (fast CPU tests).
    prompt = Path(__file__).resolve().parents[1] / "shotcrop_core" / "vlm" / "prompt.py"
    return _CORPUS * 4 + ([prompt.read_text(encoding="utf-8")] if prompt.is_file() else [])


def build_tiny_tokenizer(vocab_size: int = 1024, corpus: list[str] | None = None):
    """A byte-level BPE trained on a few sentences, with Qwen's special tokens, as Qwen2TokenizerFast."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    # Same normalizer / pre-tokenizer as Qwen2's tokenizer.json, so text splits the way Qwen's does.
    split = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus or _default_corpus(), trainer=trainer)
    with tempfile.TemporaryDirectory() as tmp:
        tok.save(str(Path(tmp) / "tokenizer.json"))
        # Loading from a folder is the one constructor both 4.57 and 5.x share.
        (Path(tmp) / "tokenizer_config.json").write_text(json.dumps({
            "tokenizer_class": "Qwen2Tokenizer", "model_max_length": 32768, "errors": "replace",
            "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": None,
            "bos_token": None, "clean_up_tokenization_spaces": False, "split_special_tokens": False,
            "add_prefix_space": False}))
        return Qwen2TokenizerFast.from_pretrained(tmp)


def _token_ids(tokenizer) -> dict[str, int]:
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    return {"image_token_id": ids["<|image_pad|>"], "video_token_id": ids["<|video_pad|>"],
            "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"],
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"]}


def _text_config(tokenizer, rope_theta: float, interleaved: bool, **extra) -> dict:
    # head_dim 16: mrope_section (t, h, w) must sum to head_dim / 2 = 8. Hub configs carry
    # rope_scaling + rope_theta; both 4.57 and 5.x (which maps them to rope_parameters) accept that.
    ids = _token_ids(tokenizer)
    return dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                rope_theta=rope_theta, bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"],
                pad_token_id=ids["pad_token_id"], **extra,
                rope_scaling={"rope_type": "default", "mrope_section": [2, 3, 3],
                              **({"mrope_interleaved": True} if interleaved else {})})


def _hub_layout_config(folder: Path) -> None:
    """Rewrite 5.x's rope_parameters as the Hub's rope_scaling + rope_theta (what 4.57 reads, 5.x maps)."""
    path = folder / "config.json"
    config = json.loads(path.read_text())
    text = config.get("text_config", config)
    rope = text.pop("rope_parameters", None)
    if rope is not None:
        text["rope_theta"] = rope.pop("rope_theta")
        text["rope_scaling"] = rope
    config.get("vision_config", {}).pop("rope_parameters", None)  # 5.x default ("axial"), unknown to 4.57
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _save(folder: Path, model, processor) -> Path:
    """Write the files a Qwen VL Hub repo ships, in a layout both transformers 4.57 and 5.x load."""
    tokenizer = processor.tokenizer
    model.generation_config.eos_token_id = [tokenizer.convert_tokens_to_ids("<|im_end|>"),
                                            tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval().save_pretrained(folder, safe_serialization=True)
    _hub_layout_config(folder)
    # Per-component files (preprocessor_config.json, video_preprocessor_config.json, tokenizer files,
    # chat_template.jinja) as on the Hub; 5.x's processor.save_pretrained would write one
    # processor_config.json instead, which 4.57 cannot read.
    cls = type(processor).__name__
    for part in (processor.image_processor, processor.video_processor, tokenizer):
        part.processor_class = cls  # what AutoProcessor reads first, as in real repos
        part.save_pretrained(folder)
    (folder / "chat_template.jinja").write_text(processor.chat_template)
    return folder


def build_tiny_qwen3_vl(folder, seed: int = 0) -> Path:
    """Qwen3-VL: 2 text layers (hidden 64), 2 vision blocks (hidden 32, patch 16, merge 2)."""
    import torch
    from transformers import (Qwen2VLImageProcessor, Qwen3VLConfig, Qwen3VLForConditionalGeneration,
                              Qwen3VLProcessor, Qwen3VLVideoProcessor)

    folder = Path(folder)
    tokenizer = build_tiny_tokenizer()
    ids = _token_ids(tokenizer)
    config = Qwen3VLConfig(
        text_config=_text_config(tokenizer, 5_000_000.0, True, head_dim=16, tie_word_embeddings=True),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16,
                           spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64,
                           num_position_embeddings=64, deepstack_visual_indexes=[0]),
        tie_word_embeddings=True, architectures=["Qwen3VLForConditionalGeneration"],
        **{k: ids[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                               "vision_end_token_id")})
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config)
    size = {"shortest_edge": TINY_MIN_PIXELS, "longest_edge": TINY_MAX_PIXELS}
    pixels = {"min_pixels": TINY_MIN_PIXELS, "max_pixels": TINY_MAX_PIXELS}  # 4.57 ignores size= here
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels, patch_size=16, merge_size=2, temporal_patch_size=2,
                                              image_mean=[0.5] * 3, image_std=[0.5] * 3),
        video_processor=Qwen3VLVideoProcessor(size=size, patch_size=16, merge_size=2, temporal_patch_size=2,
                                              image_mean=[0.5] * 3, image_std=[0.5] * 3),
        tokenizer=tokenizer, chat_template=QWEN3_CHAT_TEMPLATE)
    return _save(folder, model, processor)


def build_tiny_qwen25_vl(folder, seed: int = 0) -> Path:
    """Qwen2.5-VL: 2 text layers (hidden 64), 2 vision blocks (hidden 32, patch 14, merge 2, window 112)."""
    import torch
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor,
                              Qwen2VLImageProcessor, Qwen2VLVideoProcessor)

    folder = Path(folder)
    tokenizer = build_tiny_tokenizer()
    ids = _token_ids(tokenizer)
    config = Qwen2_5_VLConfig(
        text_config=_text_config(tokenizer, 1_000_000.0, False),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64,
                           window_size=112, fullatt_block_indexes=[1], tokens_per_second=2),
        architectures=["Qwen2_5_VLForConditionalGeneration"],
        **{k: ids[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                               "vision_end_token_id")})
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    size = {"shortest_edge": TINY_MIN_PIXELS, "longest_edge": TINY_MAX_PIXELS}
    pixels = {"min_pixels": TINY_MIN_PIXELS, "max_pixels": TINY_MAX_PIXELS}  # 4.57 ignores size= here
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels, patch_size=14, merge_size=2, temporal_patch_size=2),
        video_processor=Qwen2VLVideoProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2),
        tokenizer=tokenizer, chat_template=QWEN25_CHAT_TEMPLATE)
    return _save(folder, model, processor)
