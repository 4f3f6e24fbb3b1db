"""boxmath: IoU, vectorised IoU, NMS and BDE, against values worked out by hand."""

import numpy as np
import pytest

from shotcrop_core.boxmath import bde, iou, ious, nms
from shotcrop_core.shots import Box

# (a, b, IoU by hand)
IOU_CASES = [
    # identical
    ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
    # half of a inside b: inter 5x10 = 50, union 100 + 50 - 50 = 100
    ((0, 0, 10, 10), (0, 0, 5, 10), 0.5),
    # shifted by half: inter 5x10 = 50, union 100 + 100 - 50 = 150
    ((0, 0, 10, 10), (5, 0, 15, 10), 1 / 3),
    # corner overlap: inter 5x5 = 25, union 100 + 100 - 25 = 175
    ((0, 0, 10, 10), (5, 5, 15, 15), 25 / 175),
    # touching edge (x1 is exclusive): no overlap
    ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),
    # far apart
    ((0, 0, 10, 10), (50, 50, 60, 60), 0.0),
    # zero-area box: no union to speak of
    ((5, 5, 5, 5), (5, 5, 5, 5), 0.0),
    # normalised floats (MediaPipe detections): inter 0.1 x 0.2, union 0.04 + 0.04 - 0.02
    ((0.1, 0.1, 0.3, 0.3), (0.2, 0.1, 0.4, 0.3), 0.02 / 0.06),
]


@pytest.mark.parametrize("a, b, want", IOU_CASES)
def test_iou(a, b, want):
    assert iou(a, b) == pytest.approx(want)
    assert iou(b, a) == pytest.approx(want)
    assert iou(np.array(a, float), list(b)) == pytest.approx(want)  # any sequence


def test_iou_takes_boxes_and_box_iou_agrees():
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert iou(a, b) == pytest.approx(1 / 3) and a.iou(b) == iou(a, b)
    assert iou(a, (5, 0, 15, 10)) == iou(a, b)


def test_ious_is_iou_per_row():
    boxes = np.array([b for _, b, _ in IOU_CASES[:6]], float)
    want = [w for _, _, w in IOU_CASES[:6]]
    np.testing.assert_allclose(ious((0, 0, 10, 10), boxes), want)
    assert ious((0, 0, 10, 10), np.zeros((0, 4))).shape == (0,)


@pytest.mark.parametrize("boxes, scores, thr, keep", [
    # 0 and 1 overlap by 9.5/10 (IoU 0.95 > 0.7): the higher score (1) wins; 2 is apart
    ([[0, 0, 10, 20], [0.5, 0, 10, 20], [30, 0, 40, 20]], [0.6, 0.9, 0.5], 0.7, [1, 2]),
    # IoU 1/3 is kept at 0.5 and dropped at 0.3 (greater than the threshold drops)
    ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.5, [0, 1]),
    ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.3, [0]),
    # equal scores keep input order
    ([[0, 0, 10, 10], [50, 0, 60, 10]], [0.5, 0.5], 0.5, [0, 1]),
    ([], [], 0.5, []),
])
def test_nms(boxes, scores, thr, keep):
    assert nms(np.array(boxes, float), np.array(scores, float), thr).tolist() == keep


@pytest.mark.parametrize("a, b, w, h, want", [
    ((10, 10, 60, 60), (10, 10, 60, 60), 200, 100, 0.0),
    # every edge 20 px off in x (of 200) and 10 px in y (of 100): (0.1 + 0.1 + 0.1 + 0.1) / 4
    ((10, 10, 60, 60), (30, 20, 80, 70), 200, 100, 0.1),
    # only x1 moves, by 40 of 200: 0.2 / 4
    ((0, 0, 100, 50), (0, 0, 140, 50), 200, 100, 0.05),
    # whole image against its top-left pixel: x1 199/200, y1 99/100
    ((0, 0, 200, 100), (0, 0, 1, 1), 200, 100, (0.995 + 0.99) / 4),
])
def test_bde(a, b, w, h, want):
    assert bde(a, b, w, h) == pytest.approx(want)
    assert bde(Box(*a), Box(*b), w, h) == pytest.approx(want)
