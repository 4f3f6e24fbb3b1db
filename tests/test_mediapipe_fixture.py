"""The MediaPipe 0.10.21 reference fixture is well-formed and consistent with the pipeline
described in docs/blazepose-pipeline.md.

tests/fixtures/mediapipe_reference.json is written by tools/record_mediapipe_reference.py in a
throwaway venv with the original mediapipe wheel; nothing here needs mediapipe. The port-vs-
fixture comparison lives elsewhere; these tests only guard the fixture itself.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "mediapipe_reference.json"
DATA = ROOT / "tests" / "data"
SHARED_IMAGES = ROOT.parent / "shared" / "bench" / "coco" / "images"

N_IMAGES = 16
POSE_NAMES = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
]
FACE_NAMES = ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion",
              "left_ear_tragion"]
# docs/blazepose-pipeline.md: MediaPipe index for each COCO-17 keypoint, in COCO order.
MP_TO_COCO17 = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads(FIXTURE.read_text())


def _finite(*vals: float) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals)


def test_header(ref):
    assert ref["mediapipe_version"] == "0.10.21"
    assert ref["pose"]["options"] == {
        "static_image_mode": True, "model_complexity": 1, "smooth_landmarks": True,
        "enable_segmentation": False, "smooth_segmentation": True,
        "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5}
    assert ref["face"]["options"] == {"model_selection": 1, "min_detection_confidence": 0.5}
    assert ref["pose"]["landmark_names"] == POSE_NAMES
    assert ref["face"]["keypoint_names"] == FACE_NAMES
    assert ref["pose"]["effective"]["heatmap_refinement_kernel_size"] == 9
    assert ref["face"]["effective"]["min_score_thresh"] == 0.6


def test_every_image_present(ref):
    names = set(ref["images"])
    assert len(names) == N_IMAGES
    # The photos shipped in tests/data are dev photos too.
    assert {p.name for p in DATA.glob("*.jpg")} <= names
    if SHARED_IMAGES.is_dir():
        assert names == {p.name for p in SHARED_IMAGES.glob("*.jpg")}


def test_counts(ref):
    imgs = ref["images"].values()
    assert sum(v["pose"]["found"] for v in imgs) == 13
    assert sum(len(v["faces"]) for v in imgs) == 7


def _check_landmark(lm: dict, w: int, h: int, extra: tuple[str, ...]) -> None:
    assert _finite(lm["x"], lm["y"], lm["z"], *(lm[k] for k in extra))
    # Landmarks may lie outside the photo (occluded limbs are extrapolated), not wildly so.
    assert -2 * w <= lm["x"] <= 3 * w and -2 * h <= lm["y"] <= 3 * h
    assert -3 <= lm["z"] <= 3
    for k in extra:
        assert 0 <= lm[k] <= 1


def _check_rect(r: dict, w: int, h: int) -> None:
    assert _finite(r["x_center"], r["y_center"], r["width"], r["height"], r["rotation"])
    assert r["width"] > 0
    assert abs(r["width"] - r["height"]) <= 0.02  # square in pixels (square_long)
    assert -math.pi - 1e-4 <= r["rotation"] < math.pi + 1e-4
    n = r["normalized"]
    assert n["width"] * w == pytest.approx(r["width"], abs=0.05 * max(1, w / 100))
    assert n["height"] * h == pytest.approx(r["height"], abs=0.05 * max(1, h / 100))


def _check_detection(d: dict, n_kp: int, w: int, h: int, min_score: float) -> None:
    assert min_score - 1e-4 <= d["score"] <= 1
    x, y, bw, bh = d["box"]
    assert _finite(x, y, bw, bh) and bw > 0 and bh > 0
    assert -w <= x <= 2 * w and -h <= y <= 2 * h
    assert len(d["keypoints"]) == n_kp
    for kx, ky in d["keypoints"]:
        assert _finite(kx, ky) and -2 * w <= kx <= 3 * w and -2 * h <= ky <= 3 * h


def test_pose_entries(ref):
    for name, v in ref["images"].items():
        w, h = v["width"], v["height"]
        assert isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0, name
        p = v["pose"]
        dets = p["detections"]
        for d in dets:
            _check_detection(d, 4, w, h, 0.5)
        assert [d["score"] for d in dets] == sorted((d["score"] for d in dets), reverse=True)
        if not dets:  # no person detected: nothing downstream ran
            assert not p["found"] and "roi_from_detection" not in p, name
            continue
        _check_rect(p["roi_from_detection"], w, h)
        # found <=> the landmark model's pose flag passed the 0.5 threshold (strict >)
        assert p["found"] == (p["pose_presence_score"] > 0.5), name
        if not p["found"]:
            continue
        assert len(p["landmarks"]) == 33, name
        for lm in p["landmarks"]:
            _check_landmark(lm, w, h, ("visibility", "presence"))
        assert len(p["world_landmarks"]) == 33
        for lm in p["world_landmarks"]:
            assert _finite(lm["x"], lm["y"], lm["z"]) and max(map(abs, lm.values())) < 3
        assert len(p["auxiliary_landmarks"]) == 2
        for lm in p["auxiliary_landmarks"]:
            assert _finite(lm["x"], lm["y"], lm["z"])
        _check_rect(p["roi_from_landmarks"], w, h)


def test_roi_follows_documented_rule(ref):
    """ROI = centre keypoint 0, side 2 * 1.25 * |kp1 - kp0|, rotation 90deg - atan2(-dy, dx)."""
    n = 0
    for name, v in ref["images"].items():
        p = v["pose"]
        if not p["detections"]:
            continue
        (x0, y0), (x1, y1) = p["detections"][0]["keypoints"][:2]
        roi = p["roi_from_detection"]
        assert roi["x_center"] == pytest.approx(x0, abs=0.02), name
        assert roi["y_center"] == pytest.approx(y0, abs=0.02), name
        side = 2 * 1.25 * math.hypot(x1 - x0, y1 - y0)
        assert roi["width"] == pytest.approx(side, abs=0.1), name
        rot = math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0)
        rot = rot - 2 * math.pi * math.floor((rot + math.pi) / (2 * math.pi))
        assert roi["rotation"] == pytest.approx(rot, abs=2e-3), name
        # The tracker's next ROI follows the same rule from the auxiliary landmarks 33, 34.
        if p["found"]:
            a, b = p["auxiliary_landmarks"]
            rl = p["roi_from_landmarks"]
            assert rl["x_center"] == pytest.approx(a["x"], abs=0.02), name
            side = 2 * 1.25 * math.hypot(b["x"] - a["x"], b["y"] - a["y"])
            assert rl["width"] == pytest.approx(side, abs=0.1), name
        n += 1
    assert n == 13


def test_face_entries(ref):
    for name, v in ref["images"].items():
        w, h = v["width"], v["height"]
        faces = v["faces"]
        for d in faces:
            # min_detection_confidence=0.5 has no effect: the effective threshold is 0.6
            _check_detection(d, 6, w, h, 0.6)
        assert [d["score"] for d in faces] == sorted((d["score"] for d in faces), reverse=True)


def test_mapping_to_coco17_matches_human_keypoints(ref):
    """The documented MediaPipe -> COCO-17 map (subject's left = left) puts MediaPipe's points
    on the human COCO keypoints of the photos annotated in tests/data."""
    from shotcrop_core.perception.given import load_keypoints

    coco = load_keypoints(DATA / "person_keypoints.json")
    checked = 0
    for name in coco.names:
        p = ref["images"][name]["pose"]
        assert p["found"], name
        mp17 = np.array([[p["landmarks"][i]["x"], p["landmarks"][i]["y"]] for i in MP_TO_COCO17])
        best = None
        for person in coco.people_for(name):
            kp = person.keypoints
            seen = kp[:, 2] > 0
            if seen.sum() < 6:
                continue
            err = float(np.median(np.linalg.norm(mp17[seen] - kp[seen, :2], axis=1)))
            if best is None or err < best[0]:
                best = (err, person)
        assert best is not None, name
        err, person = best
        scale = max(person.box[2] - person.box[0], person.box[3] - person.box[1])
        assert err < 0.08 * scale, (name, err, scale)
        kp = person.keypoints
        # MediaPipe's left shoulder lies on COCO's left shoulder, not on the right one.
        assert (np.linalg.norm(mp17[5] - kp[5, :2])
                < np.linalg.norm(mp17[5] - kp[6, :2])), name
        checked += 1
    assert checked == 2


def _pixels_sha256(path: Path) -> str:
    from shotcrop_core.imageio import load_image

    rgb = np.ascontiguousarray(np.asarray(load_image(path).image, dtype=np.uint8))
    return hashlib.sha256(rgb.tobytes()).hexdigest()


def test_library_loader_gives_the_recorded_pixels(ref):
    """A port fed by shotcrop_core.imageio sees exactly the pixels MediaPipe was given."""
    paths = sorted(DATA.glob("*.jpg"))
    if SHARED_IMAGES.is_dir():
        paths = sorted(SHARED_IMAGES.glob("*.jpg"))
    assert paths
    for path in paths:
        v = ref["images"][path.name]
        assert _pixels_sha256(path) == v["rgb_sha256"], path.name
