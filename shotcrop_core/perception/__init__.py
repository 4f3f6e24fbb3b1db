"""Perception: where body landmarks come from.

Every backend turns an upright RGB PIL image into a list of `Person` (COCO-17 keypoints plus a
person box, source pixels). Backends that need torch import it inside their own module, so
importing this package stays cheap.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..keypoints import Person
from .devices import torch_device


@runtime_checkable
class PoseEstimator(Protocol):
    """Anything that finds people in a photo."""

    name: str

    def estimate(self, image) -> list[Person]:  # image: PIL.Image.Image, RGB, upright
        ...


#: Perception backends by name (the --perception choices that run a model): movenet (NanoDet
#: people + MoveNet Thunder landmarks, built in, the default), blazepose (built in, the first
#: generation: heels, toes and hands, but it needs a face), vitpose (a download).
BACKENDS = ("movenet", "blazepose", "vitpose")
#: What "auto" runs for photos the keypoint file does not cover.
DEFAULT_BACKEND = "movenet"
#: --perception choices (the one list the CLI, the pipeline and the training configs share):
#: "keypoints" is the keypoint file, "auto" the file when given, else DEFAULT_BACKEND.
PERCEPTIONS = ("auto", "keypoints", *BACKENDS)
#: Training configs may also ask for no landmarks at all (see pipeline.people_source).
PERCEPTIONS_OR_NONE = (*PERCEPTIONS, "none")


def get_estimator(name: str, **kw) -> PoseEstimator:
    """A pose estimator by name; its heavy imports happen here, not at package import."""
    from ..errors import ShotCropError

    if name not in BACKENDS:
        raise ShotCropError(f"unknown perception {name!r}: use one of {', '.join(BACKENDS)}")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ShotCropError(f"the {name} pose model needs PyTorch, which is not installed: "
                            "install torch (https://pytorch.org) or pass body keypoints with "
                            "--keypoints FILE") from None
    if name == "movenet":
        from .topdown import TopDownEstimator

        return TopDownEstimator(**kw)
    if name == "blazepose":
        from .blazepose import BlazePoseEstimator

        return BlazePoseEstimator(**kw)
    from .hub_pose import HubPoseEstimator

    return HubPoseEstimator(**kw)


def load_estimator(name: str, device="auto") -> PoseEstimator:
    """A pose model by name, loaded now: a missing model is one run-level error, not one per
    photo."""
    estimator = get_estimator(name, device=device)
    load = getattr(estimator, "load", None)
    if callable(load):
        load()
    return estimator


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "PERCEPTIONS", "PERCEPTIONS_OR_NONE", "Person", "PoseEstimator",
           "get_estimator", "load_estimator", "torch_device"]
