"""The one place the scale package gets Ray from: a clear error when the extra is missing."""

from __future__ import annotations

from ..errors import ShotCropError


def require_ray():
    """The ray module (with Ray Data), or one clear error saying how to get it."""
    try:
        import ray
        import ray.data  # noqa: F401  the part we use: also needs pyarrow and pandas
    except ImportError as e:
        raise ShotCropError(f"--ray needs Ray Data, which is not installed ({e}): install "
                            "ShotCrop with its scale extra, shotcrop[scale]") from None
    return ray


__all__ = ["require_ray"]
