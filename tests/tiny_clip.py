"""A tiny random-weight CLIP model and a matching aesthetic head, built offline from configs.

The CLIP folder holds what a Hub CLIP repo holds (config.json, model.safetensors, tokenizer and
processor files) and loads with CLIPModel / CLIPProcessor. Its tokenizer is a real CLIP
byte-level BPE with a character-level vocabulary (CLIP's first 512 entries: the 256 byte
symbols and their end-of-word forms) and no merges, so any text tokenizes without a download.
The head has the LAION predictor's layers (embedding -> 1024 -> 128 -> 64 -> 16 -> 1) on the
tiny CLIP's embedding width; `save_to_hub_cache` (tests/tiny_models.py) lays either out as a repo.
"""

from __future__ import annotations

from pathlib import Path

#: Embedding width of the tiny CLIP (the real ViT-L/14 has 768).
TINY_CLIP_DIM = 16
TINY_IMAGE_SIZE = 32


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP's printable stand-in for each byte, in CLIP's vocabulary order."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + n) for n in range(len(extra))]


def build_tiny_clip_tokenizer():
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols])}
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


#: With this seed the random towers give image-text cosines of about 0.1-0.5 on the test photos,
#: so CLIPScore (2.5 * cos, clipped to [0, 1]) varies instead of sitting at 0 for every pair.
TINY_CLIP_SEED = 2


def build_tiny_clip(folder, seed: int = TINY_CLIP_SEED, dim: int = TINY_CLIP_DIM) -> Path:
    """CLIP with 2-layer text and vision towers (hidden 32), 32x32 images, `dim`-wide embeddings."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    folder = Path(folder)
    tok = build_tiny_clip_tokenizer()
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=TINY_IMAGE_SIZE, patch_size=8),
        projection_dim=dim)
    torch.manual_seed(seed)
    CLIPModel(config).eval().save_pretrained(folder, safe_serialization=True)
    size = TINY_IMAGE_SIZE
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": size},
                                           crop_size={"height": size, "width": size}),
        tokenizer=tok)
    processor.save_pretrained(folder)
    return folder


def tiny_head_state(dim: int = TINY_CLIP_DIM, seed: int = 0) -> dict:
    """The LAION predictor's state dict (keys layers.0 ... layers.7) for `dim`-wide embeddings,
    scaled so ratings of unit-norm embeddings spread around 5 instead of collapsing to the bias."""
    import torch

    g = torch.Generator().manual_seed(seed)
    widths = [dim, 1024, 128, 64, 16, 1]
    state = {}
    for layer, (i, o) in zip((0, 2, 4, 6, 7), zip(widths, widths[1:])):
        state[f"layers.{layer}.weight"] = torch.randn(o, i, generator=g) / i ** 0.5
        state[f"layers.{layer}.bias"] = torch.zeros(o)
    state["layers.7.weight"] *= 4.0
    state["layers.7.bias"] += 5.0
    return state


def build_tiny_aesthetic_head(folder, dim: int = TINY_CLIP_DIM, seed: int = 0,
                              filename: str = "model.safetensors") -> Path:
    """A folder with the head as `filename` (the layout of the default head's Hub repo)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tiny_head_state(dim, seed), str(folder / filename), metadata={"format": "pt"})
    return folder
