"""Model folders shared by every model loader: path-or-repo, safetensors-only, device choice."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ShotCropError

#: Pickle-based weight files: loading them can run arbitrary code, so they are refused.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def looks_like_path(ref: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else is meant as a folder on disk.
    return ref.startswith((".", "~", "/")) or "\\" in ref or ref.count("/") > 1 or os.path.isabs(ref)


def check_weights(folder: Path, ref: str) -> None:
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ShotCropError(
            f"Model '{ref}' has only pickle weights ({', '.join(pickles)}); ShotCrop loads only "
            f"*.safetensors because pickle files can run code. Convert the model to safetensors "
            f"(save_pretrained(..., safe_serialization=True)) or use a repo that ships model.safetensors."
        )
    # From the Hub this also means a pickle-only repo: ALLOW_PATTERNS never fetches pickles.
    raise ShotCropError(
        f"Model '{ref}' ({folder}) has no *.safetensors weights, and ShotCrop never loads pickle "
        f"files such as pytorch_model.bin. Use a repo or folder that ships model.safetensors, or "
        f"re-run `hf download {ref}` if a download was interrupted."
    )


def pick_device(device: Any):
    import torch

    if device != "auto":
        dev = torch.device(device)
        mps = getattr(torch.backends, "mps", None)
        if (dev.type == "cuda" and not torch.cuda.is_available()) or (
                dev.type == "mps" and not (mps is not None and mps.is_available())):
            raise ShotCropError(f"Device {device!r} is not available here; use device='auto' or 'cpu'.")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_model_dtype(dtype: Any, device):
    """torch dtype for a vision model (pose, CLIP): fp16 on CUDA by default, fp32 elsewhere."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        # fp16 halves memory and uses tensor cores on CUDA; heads are read back in fp32 below.
        # MPS and CPU stay fp32: half-precision kernels there are slow or incomplete.
        return torch.float16 if device.type == "cuda" else torch.float32
    names = {"fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
             "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
             "fp32": torch.float32, "float32": torch.float32, "float": torch.float32}
    if dtype not in names:
        raise ShotCropError(f"Unknown dtype {dtype!r}; use auto, fp16, bf16 or fp32.")
    return names[dtype]


def as_rgb(image):
    """A PIL RGB image from a PIL image of any mode or an HWC array."""
    import numpy as np
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image))
    return image if image.mode == "RGB" else image.convert("RGB")
