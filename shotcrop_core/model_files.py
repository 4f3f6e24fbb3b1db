"""Model folders shared by every model loader: path-or-repo, Hub snapshots and the one offline
message, safetensors-only, device choice."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ModelUnavailableError, ShotCropError
from .model_options import DTYPE_NAMES, DTYPES

#: Pickle-based weight files: loading them can run arbitrary code, so they are refused.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def looks_like_path(ref: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else is meant as a folder on disk.
    return ref.startswith((".", "~", "/")) or "\\" in ref or ref.count("/") > 1 or os.path.isabs(ref)


def model_unavailable(ref: str, error: Exception, *, what: str = "Model",
                      revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                      note: str = "", alternative: str = "") -> ModelUnavailableError:
    """The one error for a Hub repo that is neither cached nor downloadable, with the fix.

    `what` names the model ("CLIP model"); `note` is a sentence added after the reason;
    `alternative` ends the fix with one more way out (", or pass keypoints ...").
    """
    from huggingface_hub import constants

    cache = cache_dir or constants.HF_HUB_CACHE
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    rev = f" --revision {revision}" if revision else ""
    return ModelUnavailableError(
        f"{what} '{ref}' is not available: it is not in the Hugging Face cache ({cache}) and "
        f"could not be downloaded ({type(error).__name__}: {reason}).{note}\n"
        f"Fix: on a machine with internet access run `hf download {ref}{rev}` and copy its "
        f"Hugging Face cache (HF_HOME, now {constants.HF_HOME}) here, or point HF_HOME at a "
        f"copy, or pass a local folder instead of the repo id{alternative}.")


def hub_snapshot(ref: str, allow_patterns: list[str], *, what: str = "Model",
                 revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                 note: str = "", alternative: str = "") -> Path:
    """The local snapshot of Hub repo `ref` (from the cache, else downloaded), fetching only
    `allow_patterns`; any failure becomes `model_unavailable`."""
    from huggingface_hub import snapshot_download

    try:  # resumes partial downloads; shows huggingface_hub's own progress bars
        return Path(snapshot_download(ref, revision=revision, cache_dir=cache_dir,
                                      allow_patterns=allow_patterns))
    except Exception as e:  # offline / not cached / unknown repo / network: one fix for the user
        raise model_unavailable(ref, e, what=what, revision=revision, cache_dir=cache_dir,
                                note=note, alternative=alternative) from e


def resolve_snapshot(ref: str | os.PathLike, revision: str | None = None,
                     cache_dir: str | os.PathLike | None = None, *,
                     allow_patterns: list[str], what: str = "Model",
                     alternative: str = "") -> Path:
    """A local folder for `ref`: the folder itself, or its Hub snapshot (`hub_snapshot`).

    Something that looks like a path is never sent to the Hub: a missing one is "not found".
    Weights are not checked here (see `check_weights`): some callers want one named file.
    """
    ref = os.fspath(ref)
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ShotCropError(f"{what} {ref} is a file; give the model's folder or its Hub repo id.")
    if looks_like_path(ref):
        raise ShotCropError(f"{what} folder not found: {ref}")
    return hub_snapshot(ref, allow_patterns, what=what, revision=revision, cache_dir=cache_dir,
                        alternative=alternative)


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


def named_dtype(dtype: Any):
    """The torch dtype for a name (fp16, bf16, fp32 and their spellings) or a torch dtype."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    name = DTYPE_NAMES.get(dtype) if isinstance(dtype, str) else None
    if name is None:
        raise ShotCropError(f"Unknown dtype {dtype!r}; use {', '.join(DTYPES[:-1])} or "
                            f"{DTYPES[-1]}.")
    return getattr(torch, name)


def pick_model_dtype(dtype: Any, device):
    """torch dtype for a vision model (pose, CLIP): fp16 on CUDA by default, fp32 elsewhere."""
    import torch

    if dtype == "auto":
        # fp16 halves memory and uses tensor cores on CUDA; heads are read back in fp32 below.
        # MPS and CPU stay fp32: half-precision kernels there are slow or incomplete.
        return torch.float16 if device.type == "cuda" else torch.float32
    return named_dtype(dtype)


def as_rgb(image):
    """A PIL RGB image from a PIL image of any mode or an HWC array."""
    import numpy as np
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image))
    return image if image.mode == "RGB" else image.convert("RGB")
