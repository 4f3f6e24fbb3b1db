"""Where the built-in networks run."""

from __future__ import annotations

from typing import Any


def torch_device(device: Any):
    """The torch device for "auto" (CUDA when there is one, else CPU) or a name; an unknown or
    absent device is one clear error."""
    import torch

    from ..errors import ShotCropError

    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ShotCropError(f"device {device!r} is not valid: use auto, cpu, cuda or cuda:N") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ShotCropError(f"device {device!r} is not available here: use auto or cpu")
    return dev


__all__ = ["torch_device"]
