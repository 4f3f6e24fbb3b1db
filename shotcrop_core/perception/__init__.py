"""Perception: where body landmarks come from.

Every backend turns an upright RGB PIL image into a list of `Person` (COCO-17 keypoints plus a
person box, source pixels). Backends that need torch import it inside their own module, so
importing this package stays cheap.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..keypoints import Person


@runtime_checkable
class PoseEstimator(Protocol):
    """Anything that finds people in a photo."""

    name: str

    def estimate(self, image) -> list[Person]:  # image: PIL.Image.Image, RGB, upright
        ...


__all__ = ["Person", "PoseEstimator"]
