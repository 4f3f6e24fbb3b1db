"""ShotCrop: one photo of people -> an establishing, a medium and a close-up shot.

The library never imports ComfyUI, and imports torch only where a model runs.
"""

from .aspect import ASPECTS, parse_aspect, parse_aspect_spec
from .errors import ModelUnavailableError, ShotCropError
from .framing import FramingOptions, compose, fallback, refine
from .keypoints import COCO17, Person
from .shots import SHOT_NAMES, Box, Shot, ShotSet, ShotSetError, Subject

__version__ = "0.1.0"

__all__ = [
    "ASPECTS", "COCO17", "SHOT_NAMES", "Box", "FramingOptions", "ModelUnavailableError",
    "Person", "Shot", "ShotCropError", "ShotSet", "ShotSetError", "Subject", "compose",
    "fallback", "parse_aspect", "parse_aspect_spec", "refine", "__version__",
]
