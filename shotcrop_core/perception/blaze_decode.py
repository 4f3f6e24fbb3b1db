"""MediaPipe's BlazePose / BlazeFace pre- and post-processing in numpy (no torch, no OpenCV).

Everything here reproduces mediapipe 0.10.21 as written down in docs/blazepose-pipeline.md:
the letterbox / rotated-ROI crop (OpenCV's fixed-point bilinear, bit for bit), SSD anchors,
box and keypoint decoding, weighted NMS, letterbox removal, the pose ROI, heatmap refinement
and the projection of landmarks back to the image.
"""

from __future__ import annotations

import math

import numpy as np

from ..boxmath import iou

# -- crop (ImageToTensorCalculator, CPU path) ------------------------------------------------


def _bilinear_table() -> np.ndarray:
    """OpenCV's 32x32 table of 15-bit bilinear weights (initInterTab2D, INTER_LINEAR)."""
    tab = np.zeros((32, 32, 4), np.int64)
    for fy in range(32):
        for fx in range(32):
            ax, ay = np.float32(fx / 32), np.float32(fy / 32)
            w = np.array([(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay], np.float32)
            iw = np.rint(w * 32768).astype(np.int64)
            diff = int(iw.sum()) - 32768
            if diff < 0:
                iw[np.argmax(iw)] -= diff
            elif diff > 0:
                iw[np.argmin(iw)] -= diff
            tab[fy, fx] = iw
    return tab


_TAB = _bilinear_table()
_TAB32 = _TAB.astype(np.int32)  # 255 * 32768 * 4 fits in int32
_TAB_FLAT = _TAB32.reshape(1024, 4)


def _roi_corners(cx, cy, w, h, rotation) -> np.ndarray:
    """cv::boxPoints(cv::RotatedRect) in float32: bottom-left, top-left, top-right, bottom-right."""
    f = np.float32
    ang = f(f(rotation) * f(180.0) / math.pi)
    a = f(math.sin(float(ang) * math.pi / 180)) * f(0.5)
    b = f(math.cos(float(ang) * math.pi / 180)) * f(0.5)
    cx, cy, w, h = f(cx), f(cy), f(w), f(h)
    p0 = (cx - a * h - b * w, cy + b * h - a * w)
    p1 = (cx + a * h - b * w, cy - b * h - a * w)
    p2 = (f(2) * cx - p0[0], f(2) * cy - p0[1])
    p3 = (f(2) * cx - p1[0], f(2) * cy - p1[1])
    return np.array([p0, p1, p2, p3], np.float32)


def _perspective(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """cv::getPerspectiveTransform (8x8 linear solve in float64)."""
    A = np.zeros((8, 8))
    bvec = np.zeros(8)
    for i in range(4):
        (x, y), (u, v) = src[i].astype(np.float64), dst[i].astype(np.float64)
        A[i] = [x, y, 1, 0, 0, 0, -x * u, -y * u]
        bvec[i] = u
        A[i + 4] = [0, 0, 0, x, y, 1, -x * v, -y * v]
        bvec[i + 4] = v
    return np.append(np.linalg.solve(A, bvec), 1.0).reshape(3, 3)


def crop_to_tensor(img_u8: np.ndarray, cx: float, cy: float, w: float, h: float,
                   rotation: float, size: int, border: str, lo: float, hi: float) -> np.ndarray:
    """The rotated ROI (pixels) warped onto size x size (HWC float32 in [lo, hi]).

    Bilinear in OpenCV fixed point, rounded to uint8 before normalising, as MediaPipe does;
    `border` is 'zero' (0 in uint8, so `lo` after normalising) or 'replicate'.
    """
    H, W = img_u8.shape[:2]
    dst = np.array([[0, size], [0, 0], [size, 0], [size, size]], np.float32)
    Minv = np.linalg.inv(_perspective(_roi_corners(cx, cy, w, h, rotation), dst))
    if rotation == 0.0 and abs(Minv[0, 1]) < 1e-12 and abs(Minv[1, 0]) < 1e-12 \
            and abs(Minv[2, 0]) < 1e-12 and abs(Minv[2, 1]) < 1e-12:
        # Axis-aligned (the detectors' letterbox): x depends on the column only, y on the row.
        i = np.arange(size, dtype=np.float64)
        X = np.rint((Minv[0, 0] * i + Minv[0, 2]) * (32.0 / Minv[2, 2])).astype(np.int32)[None, :]
        Y = np.rint((Minv[1, 1] * i + Minv[1, 2]) * (32.0 / Minv[2, 2])).astype(np.int32)[:, None]
        X, Y = np.broadcast_to(X, (size, size)), np.broadcast_to(Y, (size, size))
    else:
        g = _grid(size)
        den = Minv[2, 0] * g[1] + Minv[2, 1] * g[0] + Minv[2, 2]
        den = np.where(den != 0, 32.0 / den, 0.0)
        X = np.rint((Minv[0, 0] * g[1] + Minv[0, 1] * g[0] + Minv[0, 2]) * den).astype(np.int32)
        Y = np.rint((Minv[1, 0] * g[1] + Minv[1, 1] * g[0] + Minv[1, 2]) * den).astype(np.int32)
    # Flat indices and np.take: 2-3x faster than 2-D fancy indexing, same integers.
    x0, y0 = (X >> 5).ravel(), (Y >> 5).ravel()
    wt = np.take(_TAB_FLAT, ((Y & 31) * 32 + (X & 31)).ravel(), axis=0)   # (n, 4)
    C = img_u8.shape[2]
    flat = img_u8.reshape(-1, C)
    xa, xb = np.clip(x0, 0, W - 1), np.clip(x0 + 1, 0, W - 1)
    ya, yb = np.clip(y0, 0, H - 1) * W, np.clip(y0 + 1, 0, H - 1) * W
    if border == "zero":  # neighbours outside the image count as 0
        okx0, okx1 = (x0 >= 0) & (x0 < W), (x0 + 1 >= 0) & (x0 + 1 < W)
        oky0, oky1 = (y0 >= 0) & (y0 < H), (y0 + 1 >= 0) & (y0 + 1 < H)
        wt = wt * np.stack([oky0 & okx0, oky0 & okx1, oky1 & okx0, oky1 & okx1], 1)
    acc = np.zeros((x0.size, C), np.int32)
    # Gather the four neighbours from the uint8 image (converting the whole photo costs more).
    for k, idx in enumerate((ya + xa, ya + xb, yb + xa, yb + xb)):
        acc += np.take(flat, idx, axis=0).astype(np.int32) * wt[:, k:k + 1]
    u8 = np.clip((acc + (1 << 14)) >> 15, 0, 255).reshape(size, size, C)
    return u8.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)


_GRIDS: dict[int, np.ndarray] = {}


def _grid(size: int) -> np.ndarray:
    if size not in _GRIDS:
        _GRIDS[size] = np.mgrid[0:size, 0:size].astype(np.float64)
    return _GRIDS[size]


def letterbox(img_u8: np.ndarray, size: int, lo: float = -1.0, hi: float = 1.0
              ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The whole image letterboxed into size x size, and the padding [l, t, r, b] (normalised)."""
    H, W = img_u8.shape[:2]
    S = max(W, H)
    t = crop_to_tensor(img_u8, W / 2, H / 2, S, S, 0.0, size, "zero", lo, hi)
    if H / W < 1:
        vp = (1 - H / W) / 2
        return t, (0.0, vp, 0.0, vp)
    hp = (1 - W / H) / 2
    return t, (hp, 0.0, hp, 0.0)


# -- detections -------------------------------------------------------------------------------


def ssd_anchor_centres(size: int, strides, per_layer: int = 2) -> np.ndarray:
    """SSD anchor centres (x, y), normalised; layers of equal stride share cells (w = h = 1)."""
    out, n, layer = [], len(strides), 0
    while layer < n:
        per_cell, last = 0, layer
        while last < n and strides[last] == strides[layer]:
            per_cell += per_layer
            last += 1
        g = math.ceil(size / strides[layer])
        cy, cx = np.mgrid[0:g, 0:g]
        c = np.stack([(cx + 0.5) / g, (cy + 0.5) / g], axis=-1).reshape(-1, 2)
        out.append(np.repeat(c, per_cell, axis=0))
        layer = last
    return np.concatenate(out).astype(np.float32)


POSE_ANCHORS = ssd_anchor_centres(224, [8, 16, 32, 32, 32], 2)   # 2254
FACE_ANCHORS = ssd_anchor_centres(192, [4], 1)                    # 2304


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def decode(raw: np.ndarray, scores: np.ndarray, anchors: np.ndarray, scale: float, n_kp: int,
           thresh: float) -> list[dict]:
    """Raw SSD rows -> detections {score, box (xmin, ymin, xmax, ymax), kps (n, 2)} normalised."""
    s = _sigmoid(np.clip(scores.reshape(-1).astype(np.float64), -100, 100))
    idx = np.nonzero(s >= thresh)[0]
    r = raw[idx].astype(np.float64) / scale
    a = anchors[idx].astype(np.float64)
    xc, yc = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
    w, h = r[:, 2], r[:, 3]
    ok = (w >= 0) & (h >= 0)
    kps = r[:, 4:4 + 2 * n_kp].reshape(-1, n_kp, 2) + a[:, None, :]
    return [{"score": float(s[i]), "box": np.array([xc[j] - w[j] / 2, yc[j] - h[j] / 2,
                                                     xc[j] + w[j] / 2, yc[j] + h[j] / 2]),
             "kps": kps[j]} for j, i in enumerate(idx) if ok[j]]


def weighted_nms(dets: list[dict], thr: float = 0.3) -> list[dict]:
    """MediaPipe's WEIGHTED NMS: score-weighted mean of the overlapping boxes and keypoints,
    keeping the top score. The overlap is boxmath.iou: MediaPipe's OverlapSimilarity (IoU of the
    normalised boxes, no +1 pixel term)."""
    rem, out = sorted(dets, key=lambda d: -d["score"]), []
    while rem:
        top = rem[0]
        over = [iou(d["box"], top["box"]) > thr for d in rem]
        cand = [d for d, o in zip(rem, over) if o]
        rest = [d for d, o in zip(rem, over) if not o]
        ws = np.array([d["score"] for d in cand])
        box = (np.array([d["box"] for d in cand]) * ws[:, None]).sum(0) / ws.sum()
        kps = (np.array([d["kps"] for d in cand]) * ws[:, None, None]).sum(0) / ws.sum()
        out.append({"score": top["score"], "box": box, "kps": kps})
        if len(rest) == len(rem):
            break
        rem = rest
    return out


def remove_letterbox(dets: list[dict], pad: tuple[float, float, float, float]) -> list[dict]:
    l, t, r, b = pad
    sx, sy = 1 - l - r, 1 - t - b
    out = []
    for d in dets:
        box = d["box"]
        out.append({"score": d["score"],
                    "box": np.array([(box[0] - l) / sx, (box[1] - t) / sy,
                                     (box[2] - l) / sx, (box[3] - t) / sy]),
                    "kps": np.stack([(d["kps"][:, 0] - l) / sx, (d["kps"][:, 1] - t) / sy], 1)})
    return out


# -- pose ROI and landmarks -----------------------------------------------------------------


def pose_roi(kps_norm: np.ndarray, W: int, H: int) -> tuple[float, float, float, float]:
    """Centre (px), side (px) and rotation of the landmark ROI from detector keypoints 0 and 1."""
    (x0, y0), (x1, y1) = kps_norm[0] * (W, H), kps_norm[1] * (W, H)
    rot = math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0)
    rot -= 2 * math.pi * math.floor((rot + math.pi) / (2 * math.pi))
    return float(x0), float(y0), 2.5 * math.hypot(x1 - x0, y1 - y0), rot


def refine_with_heatmap(x_n: np.ndarray, y_n: np.ndarray, heatmap_logits: np.ndarray,
                        half: int = 4, min_conf: float = 0.5) -> None:
    """RefineLandmarksFromHeatmapCalculator (kernel 9, as the stock solution runs), in place.

    `heatmap_logits` is (39, 64, 64)."""
    n = heatmap_logits.shape[-1]
    for i in range(len(x_n)):
        c, r = int(x_n[i] * n), int(y_n[i] * n)
        if not (0 <= c < n and 0 <= r < n):
            continue
        r0, r1, c0, c1 = max(0, r - half), min(n, r + half + 1), max(0, c - half), min(n, c + half + 1)
        # Only the window is needed: the sigmoid of the whole (39, 64, 64) map cost ~3 ms.
        p = _sigmoid(heatmap_logits[i, r0:r1, c0:c1].astype(np.float64))
        total = p.sum()
        if total > 0 and p.max() >= min_conf:
            # Weighted mean of column and row indices, from the window's margins.
            x_n[i] = float(p.sum(axis=0) @ np.arange(c0, c1)) / n / total
            y_n[i] = float(p.sum(axis=1) @ np.arange(r0, r1)) / n / total


def project(x_n, y_n, z_n, cx: float, cy: float, side: float, rot: float, W: int):
    """Landmarks in ROI-normalised coordinates -> image pixels (z as MediaPipe scales it)."""
    u, v = x_n - 0.5, y_n - 0.5
    c, s = math.cos(rot), math.sin(rot)
    return cx + side * (c * u - s * v), cy + side * (s * u + c * v), z_n * side / W


#: COCO-17 -> MediaPipe 33 (both use the subject's own left/right).
COCO_FROM_MP = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
#: Heels and toe tips: below the ankles, for the ankle rule.
FEET_FROM_MP = (29, 30, 31, 32)
#: BlazeFace keypoints -> COCO-17: right eye, left eye, nose, (mouth), right ear, left ear.
COCO_FROM_FACE = {2: 0, 1: 1, 0: 2, 4: 3, 3: 4}
