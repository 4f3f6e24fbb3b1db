"""Record what the ORIGINAL MediaPipe 0.10.21 outputs on the dev photos (a test fixture).

Writes tests/fixtures/mediapipe_reference.json: per photo, the legacy-solution outputs of
  * mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False)
    (pose_detection.tflite + pose_landmark_full.tflite), plus the graph's intermediate
    streams (all person detections, the ROI built from the first one, the 2 auxiliary
    landmarks, the pose-presence score, the ROI built from the landmarks);
  * mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
    (face_detection_full_range_sparse.tflite).
docs/blazepose-pipeline.md describes the pipeline these numbers come from.

This script is NOT part of the library and never runs in CI: mediapipe is not a dependency.
Run it in a throwaway virtual environment outside the repository (no system site-packages,
so nothing else on the machine can shadow mediapipe's pinned numpy<2 / protobuf 4):

    python3 -m venv /tmp/mpref_venv
    /tmp/mpref_venv/bin/pip install --no-deps mediapipe==0.10.21
        # or the same wheel from disk:
        # /tmp/mpref_venv/bin/pip install --no-deps \
        #     /tmp/mp/mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl
    /tmp/mpref_venv/bin/pip install 'numpy<2' absl-py attrs flatbuffers \
        'protobuf>=4.25.3,<5' 'opencv-python-headless<4.11' matplotlib pillow==13.0.0
    cd /work/main && /tmp/mpref_venv/bin/python tools/record_mediapipe_reference.py

(--no-deps because the wheel's metadata also asks for jax, jaxlib, sentencepiece,
sounddevice and opencv-contrib-python, none of which the legacy solutions import.
numpy<2: the wheel is built against numpy 1.x.  protobuf: the wheel's metadata pins
protobuf>=4.25.3,<5 (this fixture was recorded with 4.25.9).
pillow is pinned to the version the library uses so the decoded pixels are the same.)

Options: --images DIR (default ../shared/bench/coco/images beside the repo), --out FILE.
Images are decoded exactly like shotcrop_core.imageio.load_image does for an RGB JPEG
(Pillow, EXIF orientation applied, converted to RGB); the sha256 of the decoded RGB pixels
is stored so a consumer can check that it feeds the same pixels.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

import mediapipe as mp
from mediapipe.python.solution_base import PacketDataType, SolutionBase

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = REPO.parent / "shared" / "bench" / "coco" / "images"
DEFAULT_OUT = REPO / "tests" / "fixtures" / "mediapipe_reference.json"

POSE_OPTIONS = {
    "static_image_mode": True,
    "model_complexity": 1,
    "smooth_landmarks": True,  # the default; forced off by static_image_mode
    "enable_segmentation": False,
    "smooth_segmentation": True,
    "min_detection_confidence": 0.5,
    "min_tracking_confidence": 0.5,
}
FACE_OPTIONS = {"model_selection": 1, "min_detection_confidence": 0.5}

POSE_LANDMARK_NAMES = [lm.name.lower() for lm in mp.solutions.pose.PoseLandmark]
FACE_KEYPOINT_NAMES = [k.name.lower() for k in mp.solutions.face_detection.FaceKeyPoint]
POSE_DETECTION_KEYPOINT_NAMES = [
    "hip_center", "full_body_scale_rotation", "shoulder_center", "upper_body_scale_rotation"]

_REFINE_PB2 = "mediapipe.calculators.util.refine_landmarks_from_heatmap_calculator_pb2"

# Internal streams of the expanded PoseLandmarkCpu graph (top-level names stay unprefixed).
_PRESENCE_STREAM = (
    "poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__pose_presence_score")
_POSE_EXTRA = {
    "pose_detections": PacketDataType.PROTO_LIST,  # all detections after NMS + letterbox removal
    "pose_detection": PacketDataType.PROTO,  # the first: the one the ROI is built from
    "pose_rect_from_detection": PacketDataType.PROTO,
    "pose_rect_from_landmarks": PacketDataType.PROTO,
    "auxiliary_landmarks": PacketDataType.PROTO,
    _PRESENCE_STREAM: PacketDataType.FLOAT,
}


def px(v: float) -> float:
    return round(float(v), 2)


def r4(v: float) -> float:
    return round(float(v), 4)


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        up = ImageOps.exif_transpose(im)
    if up.mode != "RGB":
        up = up.convert("RGB")
    return np.ascontiguousarray(np.asarray(up, dtype=np.uint8))


class PoseWithInternals(SolutionBase):
    """The graph mp.solutions.pose.Pose builds, with the same side inputs and calculator
    parameters (copied from mediapipe/python/solutions/pose.py of 0.10.21), observing more
    output streams. Unlike Pose.process it keeps the landmarks' `presence`."""

    def __init__(self, o: dict):
        static = o["static_image_mode"]
        super().__init__(
            binary_graph_path="mediapipe/modules/pose_landmark/pose_landmark_cpu.binarypb",
            side_inputs={
                "model_complexity": o["model_complexity"],
                "smooth_landmarks": o["smooth_landmarks"] and not static,
                "enable_segmentation": o["enable_segmentation"],
                "smooth_segmentation": o["smooth_segmentation"] and not static,
                "use_prev_landmarks": not static,
            },
            calculator_params={
                "posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh":
                    o["min_detection_confidence"],
                "poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__"
                "ThresholdingCalculator.threshold": o["min_tracking_confidence"],
            },
            outputs=["pose_landmarks", "pose_world_landmarks", *_POSE_EXTRA],
            stream_type_hints=dict(_POSE_EXTRA),
        )


def rect_to_px(rect, w: int, h: int) -> dict:
    """NormalizedRect -> pixels. The rect is square in pixels (square_long)."""
    return {
        "x_center": px(rect.x_center * w), "y_center": px(rect.y_center * h),
        "width": px(rect.width * w), "height": px(rect.height * h),
        "rotation": r4(rect.rotation),
        "normalized": {"x_center": r4(rect.x_center), "y_center": r4(rect.y_center),
                       "width": r4(rect.width), "height": r4(rect.height)},
    }


def detection_to_px(det, w: int, h: int, kp_names: list[str]) -> dict:
    ld = det.location_data
    bb = ld.relative_bounding_box
    out = {
        "score": r4(det.score[0]),
        # relative_bounding_box converted to source pixels: xmin, ymin, width, height
        "box": [px(bb.xmin * w), px(bb.ymin * h), px(bb.width * w), px(bb.height * h)],
        "keypoints": [[px(k.x * w), px(k.y * h)] for k in ld.relative_keypoints],
    }
    assert len(out["keypoints"]) == len(kp_names), (len(out["keypoints"]), kp_names)
    return out


def landmarks_to_px(lms, w: int, h: int, with_presence: bool) -> list[dict]:
    out = []
    for lm in lms.landmark:
        d = {"x": px(lm.x * w), "y": px(lm.y * h), "z": r4(lm.z)}
        if lm.HasField("visibility"):
            d["visibility"] = r4(lm.visibility)
        if with_presence and lm.HasField("presence"):
            d["presence"] = r4(lm.presence)
        out.append(d)
    return out


def record_pose(img: np.ndarray, pose_plain, pose_full: PoseWithInternals) -> dict:
    h, w = img.shape[:2]
    plain = pose_plain.process(img)
    full = pose_full.process(img)
    found = plain.pose_landmarks is not None
    res: dict = {"found": found}
    dets = full.pose_detections or []
    res["detections"] = [detection_to_px(d, w, h, POSE_DETECTION_KEYPOINT_NAMES) for d in dets]
    if full.pose_rect_from_detection is not None:
        res["roi_from_detection"] = rect_to_px(full.pose_rect_from_detection, w, h)
    presence = getattr(full, _PRESENCE_STREAM)
    if presence is not None:
        res["pose_presence_score"] = r4(presence)
    if not found:
        assert full.pose_landmarks is None
        return res
    # The public Pose and the graph observed with more streams must agree exactly.
    a = [(l.x, l.y, l.z, l.visibility) for l in plain.pose_landmarks.landmark]
    b = [(l.x, l.y, l.z, l.visibility) for l in full.pose_landmarks.landmark]
    assert a == b, "Pose and PoseWithInternals disagree"
    res["landmarks"] = landmarks_to_px(full.pose_landmarks, w, h, with_presence=True)
    res["world_landmarks"] = [
        {"x": r4(l.x), "y": r4(l.y), "z": r4(l.z)} for l in full.pose_world_landmarks.landmark]
    if full.auxiliary_landmarks is not None:
        res["auxiliary_landmarks"] = landmarks_to_px(full.auxiliary_landmarks, w, h, True)
    if full.pose_rect_from_landmarks is not None:
        res["roi_from_landmarks"] = rect_to_px(full.pose_rect_from_landmarks, w, h)
    return res


def record_faces(img: np.ndarray, face) -> list[dict]:
    h, w = img.shape[:2]
    r = face.process(img)
    dets = r.detections or []
    return [detection_to_px(d, w, h, FACE_KEYPOINT_NAMES) for d in dets]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    assert mp.__version__ == "0.10.21", f"need mediapipe 0.10.21, have {mp.__version__}"
    # Stock behaviour depends on which option protos Python has imported (see
    # docs/blazepose-pipeline.md, "Quirks"): with this module unimported, the legacy
    # solution silently drops the heatmap-refinement options (kernel 7 -> default 9).
    assert _REFINE_PB2 not in sys.modules, f"{_REFINE_PB2} imported: not stock behaviour"
    paths = sorted(p for p in args.images.iterdir()
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise SystemExit(f"no images in {args.images}")

    pose_plain = mp.solutions.pose.Pose(**POSE_OPTIONS)
    face = mp.solutions.face_detection.FaceDetection(**FACE_OPTIONS)
    images = {}
    for p in paths:
        img = load_rgb(p)
        h, w = img.shape[:2]
        # A fresh internals graph per photo: static mode keeps no state, but be explicit.
        with PoseWithInternals(POSE_OPTIONS) as pose_full:
            pose = record_pose(img, pose_plain, pose_full)
        faces = record_faces(img, face)
        images[p.name] = {
            "width": w, "height": h,
            "rgb_sha256": hashlib.sha256(img.tobytes()).hexdigest(),
            "pose": pose,
            "faces": faces,
        }
        print(f"{p.name} {w}x{h} pose={'yes' if pose['found'] else 'no '} "
              f"person_dets={len(pose['detections'])} faces={len(faces)}", file=sys.stderr)
    pose_plain.close()
    face.close()

    # Sanity: every float finite.
    def walk(o):
        if isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
        elif isinstance(o, float):
            assert math.isfinite(o), o

    doc = {
        "about": ("Outputs of the original MediaPipe legacy solutions on the dev photos; "
                  "written by tools/record_mediapipe_reference.py, pipeline described in "
                  "docs/blazepose-pipeline.md. Pixels: x right, y down, origin at the image's "
                  "top-left corner, in the upright (EXIF-applied) decoded image; landmark x/y "
                  "are MediaPipe's normalized values times width/height."),
        "mediapipe_version": mp.__version__,
        "python": platform.python_version(),
        "numpy_version": np.__version__,
        "pillow_version": Image.__version__,
        "decoder": "Pillow Image.open + ImageOps.exif_transpose + convert('RGB')",
        "rounding": {"pixels": 0.01, "other": 1e-4},
        "pose": {
            "api": "mp.solutions.pose.Pose",
            "options": POSE_OPTIONS,
            "models": ["mediapipe/modules/pose_detection/pose_detection.tflite",
                       "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"],
            "effective": {
                "heatmap_refinement_kernel_size": 9,
                "why": "the graph asks for kernel_size 7, but the legacy Python solution "
                       "passes the graph to C++ without the options of nodes whose option "
                       "protos Python has not imported, so RefineLandmarksFromHeatmap runs "
                       "with its defaults (kernel 9, min_confidence_to_refine 0.5)",
            },
            "landmark_names": POSE_LANDMARK_NAMES,
            "detection_keypoint_names": POSE_DETECTION_KEYPOINT_NAMES,
            "fields": {
                "found": "pose_landmarks was produced (detector found a person AND the "
                         "landmark model's pose-presence score >= min_tracking_confidence)",
                "detections": "every person detection after weighted NMS and letterbox "
                              "removal, best first; box = [xmin, ymin, width, height] px; "
                              "keypoints = 4 [x, y] px in detection_keypoint_names order",
                "roi_from_detection": "the rotated square ROI built from detections[0] "
                                      "(pixels; rotation in radians, clockwise positive in "
                                      "image coordinates)",
                "pose_presence_score": "the landmark model's pose flag output for that ROI",
                "landmarks": "33 landmarks: x, y px; z normalized like x (MediaPipe's raw "
                             "z, roughly in units of image width, hip-midpoint origin); "
                             "visibility and presence after sigmoid",
                "world_landmarks": "33 metric landmarks (metres, hip-centred)",
                "auxiliary_landmarks": "landmarks 33 and 34 of the 39 (hip centre and "
                                       "full-body scale/rotation point), px",
                "roi_from_landmarks": "the ROI the tracker would use on the next frame",
            },
        },
        "face": {
            "api": "mp.solutions.face_detection.FaceDetection",
            "options": FACE_OPTIONS,
            "model": "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
            "effective": {
                "min_score_thresh": 0.6,
                "why": "min_detection_confidence is written into graph_options after the "
                       "subgraphs were expanded, so it has no effect: the full-range "
                       "subgraph's own min_score_thresh 0.6 applies",
            },
            "keypoint_names": FACE_KEYPOINT_NAMES,
            "fields": {"faces": "every detection after weighted NMS: score, box = [xmin, ymin, "
                                "width, height] px, keypoints = 6 [x, y] px"},
        },
        "images": images,
    }
    walk(doc)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    n_pose = sum(v["pose"]["found"] for v in images.values())
    n_face_imgs = sum(bool(v["faces"]) for v in images.values())
    n_faces = sum(len(v["faces"]) for v in images.values())
    print(f"wrote {args.out}: {len(images)} photos, pose found in {n_pose}, faces in "
          f"{n_face_imgs} photos ({n_faces} faces)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
