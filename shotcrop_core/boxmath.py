"""IoU, non-maximum suppression and the Boundary Displacement Error of rectangles.

A box is (x0, y0, x1, y1) with x1/y1 exclusive: a tuple, a list, a numpy row or a `shots.Box`.
Its area is (x1 - x0) * (y1 - y0), so boxes that only touch do not overlap. There is no "+1 pixel"
convention anywhere: pixel boxes are exclusive, and MediaPipe's detections (perception/
blaze_decode.py) are normalised floats whose OverlapSimilarity is this same IoU.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def _xyxy(box: Any) -> Sequence[float]:
    # shots.Box names its corners (it is not a sequence); anything else is (x0, y0, x1, y1).
    return (box.x0, box.y0, box.x1, box.y1) if hasattr(box, "x1") else box


def iou(a: Any, b: Any) -> float:
    """Intersection over union of two boxes; 0 when they do not overlap or have no area."""
    a, b = _xyxy(a), _xyxy(b)
    # The operations and their order are MediaPipe's (blaze_decode's NMS stays bit for bit).
    ix, iy = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ious(box: Any, boxes: np.ndarray) -> np.ndarray:
    """`iou(box, b)` for every row b of the (n, 4) array `boxes`, vectorised."""
    b = np.asarray(_xyxy(box), dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w = np.clip(np.minimum(b[2], boxes[:, 2]) - np.maximum(b[0], boxes[:, 0]), 0, None)
    h = np.clip(np.minimum(b[3], boxes[:, 3]) - np.maximum(b[1], boxes[:, 1]), 0, None)
    inter = w * h
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = (b[2] - b[0]) * (b[3] - b[1]) + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first (ties keep input order): a box is dropped
    when its IoU with a kept box exceeds `threshold`. A few dozen boxes: numpy is plenty."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep: list[int] = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        order = rest[ious(boxes[i], boxes[rest]) <= threshold]
    return np.asarray(keep, dtype=np.int64)


def bde(a: Any, b: Any, width: float, height: float) -> float:
    """Boundary Displacement Error: mean over the 4 edges of |edge difference|, x edges divided
    by the image width and y edges by its height; 0 is a perfect match, 1 the worst possible.

    Same as `compute_iou_and_disp` in bcmi/Human-Centric-Image-Cropping test.py and
    bo-zhang-cs/CACNet-Pytorch test.py (sum of the 4 normalised edge offsets, later divided by 4),
    the FCDB/FLMS protocol reported by GAIC (Zeng et al.) and VPN (Wei et al.).
    """
    a, b = _xyxy(a), _xyxy(b)
    return (abs(a[0] - b[0]) / width + abs(a[2] - b[2]) / width
            + abs(a[1] - b[1]) / height + abs(a[3] - b[3]) / height) / 4


__all__ = ["bde", "iou", "ious", "nms"]
