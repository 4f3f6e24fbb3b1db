"""Find, check and load a Qwen VL model (Qwen3-VL or Qwen2.5-VL) from the Hub or a folder.

torch and transformers are imported inside functions only. Weights are safetensors only, and
`trust_remote_code` is never enabled: a repo that needs custom code is refused up front.
Works with transformers 4.57 (first release with Qwen3-VL) and 5.x.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import ShotCropError
from ..models import DEFAULT_VLM
from ..model_files import (check_weights, hub_snapshot, looks_like_path, named_dtype,
                           pick_device, resolve_snapshot)
from ..model_options import ATTENTIONS, QUANTIZATIONS

log = logging.getLogger("shotcrop")

#: model_type in config.json -> family (the prompt and box format differ between them).
FAMILIES = {"qwen3_vl": "qwen3_vl", "qwen2_5_vl": "qwen2_5_vl"}
#: Configs, safetensors, tokenizer files (vocab/merges .txt, .model, .tiktoken), chat templates.
#: Never *.bin / *.pt / *.pth / *.pkl: unpickling can run code.
ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model", "*.tiktoken"]
#: How the offline message names the model.
WHAT = "Vision-language model"


@dataclass
class LoadedVLM:
    """A model ready for `generate`, its processor (tokenizer padding on the left) and where it came from."""

    model: Any
    processor: Any
    family: str  # "qwen3_vl" | "qwen2_5_vl"
    device: Any  # torch.device
    dtype: Any  # torch.dtype (the compute dtype when quantized)
    path: Path


def _read_config(config: Mapping[str, Any] | str | os.PathLike) -> dict:
    if isinstance(config, Mapping):
        return dict(config)
    path = Path(config)
    path = path / "config.json" if path.is_dir() else path
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ShotCropError(f"Cannot read the model config {path}: {e}") from e


def family_of(config: Mapping[str, Any] | str | os.PathLike) -> str:
    """'qwen3_vl' or 'qwen2_5_vl' from a config dict, a model folder or a config.json path."""
    model_type = _read_config(config).get("model_type")
    if model_type not in FAMILIES:
        raise ShotCropError(
            f"Unsupported vision-language model type {model_type!r}; ShotCrop supports "
            f"{', '.join(FAMILIES)} (Qwen3-VL and Qwen2.5-VL, e.g. Qwen/Qwen3-VL-4B-Instruct).")
    return FAMILIES[model_type]


def _inside_roots(ref: str, roots: list[Path]) -> Path | None:
    """The folder `ref` names inside one of `roots`, None if none has it; escapes are errors."""
    parts = Path(ref).parts
    if not ref.strip() or not parts or Path(ref).is_absolute() or Path(ref).drive or ".." in parts:
        raise ShotCropError(f"Model name {ref!r} must be a folder name inside "
                            f"{', '.join(map(str, roots))}: absolute paths and '..' are not allowed.")
    real_roots = [r.resolve() for r in roots]
    for root in roots:
        candidate = root / ref
        if not (candidate.exists() or candidate.is_symlink()):
            continue
        # resolve() follows every symlink on the way, so a link pointing elsewhere is caught here.
        real = candidate.resolve()
        if not any(real != r and real.is_relative_to(r) for r in real_roots):
            raise ShotCropError(f"Model {ref!r} resolves to {real}, outside the model folder {root}; "
                                "move the model into that folder instead of linking to it.")
        if real.is_dir():
            return real
    return None


def resolve_vlm(ref: str | os.PathLike, revision: str | None = None,
                cache_dir: str | os.PathLike | None = None,
                allowed_roots: Iterable[str | os.PathLike] | None = None,
                weights: bool = True) -> Path:
    """The checked local folder for `ref`: a model folder, or a Hub repo's snapshot (downloaded if needed).

    With `allowed_roots` (names from a ComfyUI workflow), a path must stay inside one of those
    folders; a name found in none of them is tried as a Hub repo id. `weights=False`: only the
    config and processor files (a stage that prompts, not one that runs the model).
    """
    ref = os.fspath(ref)
    if allowed_roots is None:
        patterns = ALLOW_PATTERNS if weights else [p for p in ALLOW_PATTERNS
                                                   if p != "*.safetensors"]
        folder = resolve_snapshot(ref, revision, cache_dir, allow_patterns=patterns, what=WHAT)
    else:
        roots = [Path(r).expanduser() for r in allowed_roots]
        folder = _inside_roots(ref, roots)
        if folder is None:
            where = ", ".join(map(str, roots))
            if looks_like_path(ref):
                raise ShotCropError(f"Model folder not found: {ref} (looked in {where})")
            folder = hub_snapshot(ref, ALLOW_PATTERNS, what=WHAT, revision=revision,
                                  cache_dir=cache_dir,
                                  note=f" There is no folder of that name in {where} either.")
    if weights:
        check_weights(folder, ref)
    config = _read_config(folder)
    if config.get("auto_map"):
        raise ShotCropError(
            f"Model '{ref}' needs custom code from its repo (auto_map in config.json); ShotCrop never "
            f"enables trust_remote_code. Use a model that transformers supports natively, such as "
            f"Qwen/Qwen3-VL-4B-Instruct.")
    return folder


def pick_vlm_dtype(dtype: Any, device) -> Any:
    """torch dtype for a VLM on `device`: bf16 on CUDA where supported (else fp16), fp16 on MPS,
    fp32 on CPU; or the one named."""
    import torch

    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        # fp16 on Apple GPUs halves memory; CPU half-precision matmuls are slow, so fp32 there.
        return torch.float16 if device.type == "mps" else torch.float32
    return named_dtype(dtype)


def _pick_attention(attention: str, device) -> str:
    if attention not in ATTENTIONS:
        raise ShotCropError(f"Unknown attention {attention!r}; use one of {', '.join(ATTENTIONS)}.")
    if attention == "flash_attention_2":
        from transformers.utils import is_flash_attn_2_available

        # Checks the package, its version and CUDA; without it SDPA is the fastest built-in kernel.
        if device.type != "cuda" or not is_flash_attn_2_available():
            log.debug("flash_attention_2 is not usable here (no flash_attn or no CUDA); using sdpa")
            return "sdpa"
    return attention


def _quantization_config(quantization: str | None, device, dtype) -> Any:
    if quantization is None:
        return None
    if quantization not in QUANTIZATIONS:
        raise ShotCropError(f"Unknown quantization {quantization!r}; "
                            f"use {' or '.join(QUANTIZATIONS)}, or none.")
    if device.type != "cuda":
        raise ShotCropError(f"{quantization} quantization needs a CUDA GPU (bitsandbytes); this run uses "
                            f"{device.type}. Drop quantization or pick a smaller model.")
    missing = [m for m in ("bitsandbytes", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        raise ShotCropError(f"{quantization} quantization needs the {' and '.join(missing)} "
                            "package(s), missing from this Python environment: install them, or "
                            "drop quantization")
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)


#: First transformers release with Qwen3-VL (the default family).
MIN_TRANSFORMERS = "4.57"


def require_transformers() -> Any:
    """The transformers module with the classes `load_vlm` uses, or one clear error: it can be
    missing, too old, or broken (an install whose model classes fail to import)."""
    try:
        import transformers
        from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: F401
    except (ImportError, RuntimeError) as e:  # transformers' lazy imports raise either
        raise ShotCropError(
            f"The vision-language models need the transformers package ({MIN_TRANSFORMERS} or "
            f"newer), which cannot be imported in this Python environment ({e}). Install or "
            "repair it there, or use a framing backend (BlazePose) instead of a VLM.") from None
    return transformers


def load_vlm(ref: str | os.PathLike = DEFAULT_VLM, device: Any = "auto", dtype: Any = "auto",
             attention: str = "sdpa", quantization: str | None = None, revision: str | None = None,
             cache_dir: str | os.PathLike | None = None,
             allowed_roots: Iterable[str | os.PathLike] | None = None) -> LoadedVLM:
    """Resolve `ref` (a Hub repo id or a folder), then load the model and its processor for generation."""
    ref = os.fspath(ref)
    transformers = require_transformers()  # before a download that could not be used
    path = resolve_vlm(ref, revision=revision, cache_dir=cache_dir, allowed_roots=allowed_roots)
    family = family_of(path)  # before any weight is read: a wrong model fails fast
    from packaging.version import Version
    from transformers import AutoModelForImageTextToText, AutoProcessor

    dev = pick_device(device)
    dt = pick_vlm_dtype(dtype, dev)
    kwargs: dict[str, Any] = dict(attn_implementation=_pick_attention(attention, dev),
                                  use_safetensors=True, trust_remote_code=False)
    # transformers < 4.56 knows only torch_dtype= (and would silently ignore dtype=).
    version = Version(transformers.__version__)
    kwargs["dtype" if version >= Version("4.56") else "torch_dtype"] = dt
    quant = _quantization_config(quantization, dev, dt)
    if quant is not None:  # bitsandbytes weights are placed at load time and cannot be moved after
        kwargs.update(quantization_config=quant, device_map={"": dev.index or 0})
    try:
        model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
        processor = AutoProcessor.from_pretrained(path, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as e:
        old = family == "qwen3_vl" and version < Version(MIN_TRANSFORMERS)
        need = (f" (Qwen3-VL needs transformers >= {MIN_TRANSFORMERS}, this is {version})"
                if old else "")
        raise ShotCropError(f"Could not load '{ref}' as a {family} model{need}: {e}") from e
    if quant is None:
        model = model.to(dev)
    model.train(False)  # inference mode (dropout off)
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "left"  # batched generation appends new tokens on the right
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return LoadedVLM(model=model, processor=processor, family=family, device=dev, dtype=dt, path=path)


def input_sizes(processor: Any, image_grid_thw: Any) -> list[tuple[int, int]]:
    """(width, height) of each image as the model saw it, after the processor's resize.

    Qwen2.5-VL boxes are absolute pixels of this resized image (Qwen3-VL boxes are 0-1000 of
    the image): image_grid_thw rows are (t, h, w) in patches of `patch_size` pixels.
    """
    patch = int(processor.image_processor.patch_size)
    rows = image_grid_thw.tolist() if hasattr(image_grid_thw, "tolist") else image_grid_thw
    return [(int(w) * patch, int(h) * patch) for _, h, w in rows]


__all__ = ["ALLOW_PATTERNS", "FAMILIES", "MIN_TRANSFORMERS", "LoadedVLM", "family_of",
           "input_sizes", "load_vlm", "require_transformers", "resolve_vlm"]
