"""Built-in offline perception: MediaPipe's BlazePose (+ BlazeFace) ported to PyTorch.

The weights ship inside the package (converted from the mediapipe 0.10.21 wheel, Apache-2.0,
see weights/NOTICE), so this runs with no download, on CPU in tens of milliseconds. The
pipeline is MediaPipe's (docs/blazepose-pipeline.md), extended to several people: the landmark
model runs on the rotated ROI of every detected person, not only the first. BlazeFace fills in
faces the pose model missed (back views, tight crops) and finds people the pose detector did
not (a face filling the frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..boxmath import iou
from ..keypoints import Person
from . import blaze_decode as D
from .devices import torch_device

#: A pose counts as found above this landmark-model flag (MediaPipe's min_tracking_confidence).
POSE_FLAG = 0.5
#: Detector score threshold (MediaPipe's min_detection_confidence).
MIN_DETECTION = 0.5
#: BlazeFace full range keeps faces at or above this score (the graph's own threshold).
MIN_FACE = 0.6


@dataclass
class PoseResult:
    """One person as MediaPipe describes it (pixels of the upright image)."""

    score: float                 # detector score
    flag: float                  # landmark model's pose presence
    roi: tuple[float, float, float, float]   # centre x, centre y, side, rotation
    landmarks: np.ndarray        # (33, 5): x, y, z, visibility, presence


class BlazePoseEstimator:
    """COCO-17 people from BlazePose, no download. `estimate(image)` -> list[Person]."""

    name = "blazepose"

    def __init__(self, device: Any = "auto", max_people: int = 6, faces: bool = True) -> None:
        self.device = device
        self.max_people = int(max_people)
        self.faces = faces
        self._nets: dict | None = None

    def load(self) -> "BlazePoseEstimator":
        if self._nets is None:
            from . import blaze_nets

            dev = torch_device(self.device)
            self._dev = dev
            self._nets = {n: blaze_nets.load(n, dev) for n in blaze_nets.NETS}
        return self

    def to(self, device) -> "BlazePoseEstimator":
        """Move the loaded networks (e.g. to "cpu" to free GPU memory between runs)."""
        if self._nets is not None:
            self._dev = torch_device(device)
            for net in self._nets.values():
                net.to(self._dev)
        return self

    # -- the networks ----------------------------------------------------------------------
    def _run(self, name: str, hwc: np.ndarray):
        import torch

        x = torch.from_numpy(np.ascontiguousarray(hwc.transpose(0, 3, 1, 2))).to(self._dev)
        with torch.inference_mode():
            out = self._nets[name](x)
        return [o.float().cpu().numpy() if o is not None else None for o in out]

    def detect_people(self, img: np.ndarray, tiles: bool = False) -> list[dict]:
        """Person detections, image-normalised; `tiles` also looks at four overlapping quarters
        at twice the scale (the detector misses people smaller than about a fifth of its input)."""
        H, W = img.shape[:2]
        t, pad = D.letterbox(img, 224)
        reg, cls = self._run("pose_detection", t[None])
        dets = D.weighted_nms(D.decode(reg[0], cls[0], D.POSE_ANCHORS, 224.0, 4, MIN_DETECTION))
        dets = D.remove_letterbox(dets, pad)
        if not tiles:
            return dets
        S = 0.6 * max(W, H)   # tile side: quarters with 20% overlap
        crops, origins = [], []
        for fx in (0.0, 1.0):
            for fy in (0.0, 1.0):
                cx = S / 2 + fx * max(W - S, 0.0)
                cy = S / 2 + fy * max(H - S, 0.0)
                crops.append(D.crop_to_tensor(img, cx, cy, S, S, 0.0, 224, "zero", -1.0, 1.0))
                origins.append((cx - S / 2, cy - S / 2))
        reg, cls = self._run("pose_detection", np.stack(crops))
        found = []
        for k, (ox, oy) in enumerate(origins):
            for d in D.decode(reg[k], cls[k], D.POSE_ANCHORS, 224.0, 4, MIN_DETECTION):
                scale = np.array([S / W, S / H])
                off = np.array([ox / W, oy / H])
                d["kps"] = d["kps"] * scale + off
                d["box"] = np.concatenate([d["box"][:2] * scale + off, d["box"][2:] * scale + off])
                found.append(d)
        return D.weighted_nms(dets + found)

    def detect_faces(self, img: np.ndarray) -> list[dict]:
        t, pad = D.letterbox(img, 192)
        reg, cls = self._run("face_detection_full_range", t[None])
        dets = D.weighted_nms(D.decode(reg[0], cls[0], D.FACE_ANCHORS, 192.0, 6, MIN_FACE))
        return D.remove_letterbox(dets, pad)

    def landmarks(self, img: np.ndarray, dets: list[dict]) -> list[PoseResult]:
        """The landmark model on each detection's ROI, in one batch."""
        H, W = img.shape[:2]
        dets = dets[: self.max_people]
        if not dets:
            return []
        rois = [D.pose_roi(d["kps"], W, H) for d in dets]
        crops = np.stack([D.crop_to_tensor(img, cx, cy, s, s, rot, 256, "replicate", 0.0, 1.0)
                          for cx, cy, s, rot in rois])
        lm, flag, heat, _ = self._run("pose_landmark_full", crops)
        out = []
        for i, (d, (cx, cy, side, rot)) in enumerate(zip(dets, rois)):
            if flag[i, 0] <= POSE_FLAG:
                continue
            L = lm[i].reshape(39, 5).astype(np.float64)
            x_n, y_n, z_n = L[:, 0] / 256, L[:, 1] / 256, L[:, 2] / 256
            D.refine_with_heatmap(x_n, y_n, heat[i])
            X, Y, Z = D.project(x_n, y_n, z_n, cx, cy, side, rot, W)
            vis, pres = D._sigmoid(L[:, 3]), D._sigmoid(L[:, 4])
            out.append(PoseResult(d["score"], float(flag[i, 0]), (cx, cy, side, rot),
                                  np.stack([X, Y, Z, vis, pres], 1)[:33]))
        return out

    # -- people ------------------------------------------------------------------------------
    def estimate_raw(self, image) -> tuple[list[dict], list[PoseResult], list[dict]]:
        """Detections (normalised), landmarks and faces (normalised), as MediaPipe gives them."""
        self.load()
        img = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
        dets = self.detect_people(img)
        poses = self.landmarks(img, dets)
        if not poses:  # small people: look again at twice the scale
            poses = self.landmarks(img, self.detect_people(img, tiles=True))
        faces = self.detect_faces(img) if self.faces and self._need_faces(poses) else []
        return dets, poses, faces

    @staticmethod
    def _need_faces(poses: list[PoseResult]) -> bool:
        # BlazeFace costs ~40% of a run: only when a pose misses its face or none was found.
        return not poses or any(float(p.landmarks[[0, 2, 5], 3].max()) < 0.5 for p in poses)

    def estimate(self, image) -> list[Person]:
        W, H = image.size
        _, poses, faces = self.estimate_raw(image)
        people = [_person(p) for p in poses]
        people = _dedupe(people)
        for f in faces:
            fx = _face_points(f, W, H)
            owner = _face_owner(people, fx)
            if owner is None:
                people.append(_face_person(fx, f["score"], W, H))
            else:
                people[owner] = _with_face(people[owner], fx)
        return people


def _person(p: PoseResult) -> Person:
    lm = p.landmarks
    kp = np.zeros((17, 3))
    for c, m in enumerate(D.COCO_FROM_MP):
        kp[c] = (lm[m, 0], lm[m, 1], lm[m, 3])
    feet = np.array([(lm[m, 0], lm[m, 1], lm[m, 3]) for m in D.FEET_FROM_MP])
    vis = lm[lm[:, 3] >= 0.5]
    pts = vis[:, :2] if len(vis) else lm[:, :2]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    # Landmarks stop at the eyes and ears: the crown is about half a head above them.
    shoulders = lm[[11, 12], 1].mean()
    head = max(abs(shoulders - lm[[2, 5], 1].mean()), abs(lm[7, 0] - lm[8, 0]), 1.0)
    pad = 0.08 * max(x1 - x0, y1 - y0)  # landmarks are joints, the body reaches past them
    return Person(kp, (x0 - pad, min(y0, lm[[2, 5], 1].min() - 0.6 * head), x1 + pad, y1 + pad),
                  p.score, feet)


def _dedupe(people: list[Person]) -> list[Person]:
    """Two detections of one body give the same landmarks: keep the first (higher score)."""
    kept: list[Person] = []
    for p in people:
        if all(iou(p.box, q.box) < 0.6 for q in kept):
            kept.append(p)
    return kept


def _face_points(f: dict, W: int, H: int) -> dict:
    box = f["box"] * np.array([W, H, W, H])
    kps = f["kps"] * np.array([W, H])
    return {"box": box, "kps": kps, "score": f["score"]}


def _face_owner(people: list[Person], face: dict) -> int | None:
    """The person whose head region holds this face's nose, if any."""
    nx, ny = face["kps"][2]
    for i, p in enumerate(people):
        x0, y0, x1, y1 = p.box
        fw = face["box"][2] - face["box"][0]
        if x0 - fw <= nx <= x1 + fw and y0 - fw <= ny <= y0 + 0.45 * (y1 - y0) + fw:
            return i
    return None


def _face_keypoints(face: dict, base: np.ndarray | None = None) -> np.ndarray:
    kp = np.zeros((17, 3)) if base is None else base.copy()
    for f_idx, c in D.COCO_FROM_FACE.items():
        x, y = face["kps"][f_idx]
        kp[c] = (x, y, face["score"])
    return kp


def _with_face(p: Person, face: dict) -> Person:
    """Fill in eyes, nose and ears the pose model could not see (back view, occlusion)."""
    if p.keypoints[[0, 1, 2], 2].max() >= 0.5:
        return p
    return Person(_face_keypoints(face, p.keypoints), p.box, p.score, p.feet)


def _face_person(face: dict, score: float, W: int, H: int) -> Person:
    """A face with no body found: the body is assumed below it, head and shoulders at least
    (the box stops at the photo's edges; the framing estimates the body lines from the face)."""
    x0, y0, x1, y1 = face["box"]
    w = x1 - x0
    cx = (x0 + x1) / 2
    box = (max(cx - 1.5 * w, 0.0), max(y0 - 0.35 * w, 0.0), min(cx + 1.5 * w, float(W)),
           min(y0 + 4.5 * w, float(H)))
    return Person(_face_keypoints(face), box, score)
