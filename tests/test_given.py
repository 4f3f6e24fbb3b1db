"""User-given landmarks: ComfyUI POSE_KEYPOINT (DWPose / OpenPose styles), COCO, ShotCrop JSON."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shotcrop_core.errors import ShotCropError
from shotcrop_core.keypoints import KP
from shotcrop_core.perception.given import (CocoKeypoints, KeypointSource, load_keypoints,
                                            pose_keypoint_frames, pose_keypoint_to_people)

DATA = Path(__file__).parent / "data"
COCO_FILE = DATA / "person_keypoints.json"
SINGLE, GROUP = "000000234748.jpg", "000000000790.jpg"
W, H = 640, 425  # SINGLE's size
COCO_FROM_OP18 = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)


def coco_kp(name: str = SINGLE, i: int = 0) -> np.ndarray:
    d = json.loads(COCO_FILE.read_text())
    img = next(im for im in d["images"] if im["file_name"] == name)
    ann = [a for a in d["annotations"] if a["image_id"] == img["id"]][i]
    return np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)


def to_op18(kp: np.ndarray) -> np.ndarray:
    """COCO-17 (x, y, v) to OpenPose-18 pixels with confidence 1/0, the neck between shoulders."""
    op = np.zeros((18, 3))
    for c, o in enumerate(COCO_FROM_OP18):
        if kp[c, 2] > 0:
            op[o] = (kp[c, 0], kp[c, 1], 1.0)
    if kp[5, 2] > 0 and kp[6, 2] > 0:
        op[1] = ((kp[5, 0] + kp[6, 0]) / 2, (kp[5, 1] + kp[6, 1]) / 2, 1.0)
    return op


def face_points(kp: np.ndarray, n: int = 68) -> np.ndarray:
    """A ring of face landmarks around the nose (brows above the eyes, chin below the mouth)."""
    nose = kp[0, :2]
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([nose[0] + 9 * np.cos(ang), nose[1] + 11 * np.sin(ang), np.ones(n)])


def dwpose_frame() -> dict:
    """As DwposeDetector emits it now: pixels of the input image, canvas = its size."""
    kp = coco_kp()
    body = to_op18(kp)
    face = np.vstack([face_points(kp), [[0, 0, 0], [0, 0, 0]]])  # 68 + 2 (eyes from the body)
    hand = np.column_stack([kp[9, 0] + np.arange(21) * 0.5, kp[9, 1] + np.arange(21), np.ones(21)])
    return {"people": [{"pose_keypoints_2d": body.reshape(-1).tolist(),
                        "face_keypoints_2d": face.reshape(-1).tolist(),
                        "hand_left_keypoints_2d": hand.reshape(-1).tolist(),
                        "hand_right_keypoints_2d": None}],
            "canvas_width": W, "canvas_height": H}


def openpose_frame(resolution: int = 512) -> tuple[dict, float]:
    """As OpenposeDetector emits it: the image resized (short side = resolution), padded to a
    multiple of 64, points divided by the PADDED size; canvas = the unpadded resized size;
    missing face/hand peaks are (-1/W, -1/H) with confidence 1.0."""
    k = resolution / min(W, H)
    wt, ht = round(W * k), round(H * k)
    wp, hp = math.ceil(wt / 64) * 64, math.ceil(ht / 64) * 64
    assert (wp, hp) != (wt, ht)  # the sample must exercise the padding
    kp = coco_kp()
    body = to_op18(kp)
    present = body[:, 2] > 0
    body[present, 0] *= k / wp
    body[present, 1] *= k / hp
    face = face_points(kp, 70)
    face[:, 0] *= k / wp
    face[:, 1] *= k / hp
    face[:40] = (-1 / wp, -1 / hp, 1.0)  # most face peaks missing
    hand = np.tile([-1 / wp, -1 / hp, 1.0], (21, 1))  # a hand crop where nothing was found
    frame = {"people": [{"pose_keypoints_2d": body.reshape(-1).tolist(),
                         "face_keypoints_2d": face.reshape(-1).tolist(),
                         "hand_left_keypoints_2d": hand.reshape(-1).tolist(),
                         "hand_right_keypoints_2d": None}],
             "canvas_width": wt, "canvas_height": ht}
    return frame, k


def assert_matches_coco(person, kp: np.ndarray, tol: float) -> None:
    vis = kp[:, 2] > 0
    assert np.all(person.keypoints[vis, 2] > 0.3)
    assert np.all(person.keypoints[~vis, 2] == 0)
    assert np.abs(person.keypoints[vis, :2] - kp[vis, :2]).max() < tol


# -- POSE_KEYPOINT ------------------------------------------------------------------------------
def test_dwpose_pixels_map_to_coco_order():
    kp = coco_kp()
    (p,) = pose_keypoint_to_people(dwpose_frame())
    assert_matches_coco(p, kp, 1e-6)
    # left/right survive the OpenPose -> COCO mapping (the man faces the camera: his left is
    # on the image's right)
    assert p.keypoints[KP["left_shoulder"], 0] > p.keypoints[KP["right_shoulder"], 0]
    x0, y0, x1, y1 = p.box
    vis = kp[kp[:, 2] > 0]
    assert x0 < vis[:, 0].min() and x1 > vis[:, 0].max() and y1 > vis[:, 1].max()
    assert y0 < kp[KP["left_eye"], 1] - 15  # room above the eyes for the top of the head


def test_openpose_normalised_over_padded_image_maps_back_to_photo():
    frame, k = openpose_frame()
    kp = coco_kp()
    (canvas_p,) = pose_keypoint_to_people(frame)  # canvas pixels = photo pixels * k
    vis = kp[:, 2] > 0
    assert np.abs(canvas_p.keypoints[vis, :2] - kp[vis, :2] * k).max() < 1e-6
    (p,) = pose_keypoint_to_people(frame, image_size=(W, H))
    assert_matches_coco(p, kp, 0.6)  # canvas rounding only
    # the missing markers (tiny negatives, confidence 1.0) must not drag the box to (0, 0)
    assert p.box[0] > 200 and p.box[1] > 50


def test_openpose_without_padding_option():
    frame, k = openpose_frame()
    (p,) = pose_keypoint_to_people(frame, image_size=(W, H), pad_to=1)
    vis = coco_kp()[:, 2] > 0
    # normalising over the canvas itself would misplace points by the padding ratio
    assert np.abs(p.keypoints[vis, 0] - coco_kp()[vis, 0]).max() > 10


def test_scale_is_decided_per_part():
    kp = coco_kp()
    frame = dwpose_frame()
    body = to_op18(kp)
    body[4] = (W + 40, 300, 1.0)  # a wrist predicted outside the canvas stays in pixels
    frame["people"][0]["pose_keypoints_2d"] = body.reshape(-1).tolist()
    # ... while the face part of the same person is normalised
    face = face_points(kp, 70)
    face[:, 0] /= W
    face[:, 1] /= H
    frame["people"][0]["face_keypoints_2d"] = face.reshape(-1).tolist()
    (p,) = pose_keypoint_to_people(frame, pad_to=1)
    assert p.keypoints[KP["right_wrist"], 0] == W + 40
    assert p.keypoints[KP["nose"], 0] == kp[0, 0]
    assert p.box[2] > W + 40  # the outside point widens the box
    assert p.box[1] < kp[0, 1] - 11  # normalised face points were scaled, not read as pixels


def test_normalised_point_slightly_off_canvas_is_still_normalised():
    frame, _ = openpose_frame()
    body = np.asarray(frame["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
    body[10] = (0.5, 1.04, 1.0)  # right ankle just below the padded image
    frame["people"][0]["pose_keypoints_2d"] = body.reshape(-1).tolist()
    (p,) = pose_keypoint_to_people(frame)
    assert p.keypoints[KP["right_ankle"], 1] == pytest.approx(1.04 * 512)


def test_neck_is_dropped_and_body25_keeps_feet():
    kp = coco_kp()
    op18 = to_op18(kp)
    b25 = np.zeros((25, 3))
    b25[:8] = op18[:8]
    b25[9:15] = op18[8:14]
    b25[15:19] = op18[14:18]
    b25[8] = (*(kp[11, :2] + kp[12, :2]) / 2, 0.9)
    b25[19:25] = (kp[15, 0], kp[15, 1] + 8, 0.8)
    # real OpenPose JSON: pixels, heatmap confidences, no canvas size
    frame = {"people": [{"pose_keypoints_2d": b25.reshape(-1).tolist()}]}
    (p,) = pose_keypoint_to_people(frame)
    assert_matches_coco(p, kp, 1e-6)
    assert p.feet is not None and p.feet.shape == (6, 3)
    assert p.box[3] > kp[15, 1] + 8


def test_frames_accept_list_dict_and_json_text():
    f = dwpose_frame()
    empty = {"people": [], "canvas_width": W, "canvas_height": H}
    assert [len(x) for x in pose_keypoint_frames([f, empty])] == [1, 0]
    assert len(pose_keypoint_frames(f)) == 1
    assert len(pose_keypoint_frames(json.dumps([f, f, empty]))) == 3


def test_numpy_arrays_are_accepted():
    f = dwpose_frame()
    person = f["people"][0]
    for key in ("pose_keypoints_2d", "face_keypoints_2d"):
        person[key] = np.asarray(person[key])
    person["hand_right_keypoints_2d"] = np.zeros(0)
    (p,) = pose_keypoint_to_people(f)
    assert_matches_coco(p, coco_kp(), 1e-6)


def test_person_with_nothing_detected_is_skipped():
    f = {"people": [{"pose_keypoints_2d": [0.0] * 54, "face_keypoints_2d": None}],
         "canvas_width": W, "canvas_height": H}
    assert pose_keypoint_to_people(f) == []


def test_face_only_person_when_body_switched_off():
    f = dwpose_frame()
    f["people"][0]["pose_keypoints_2d"] = None
    (p,) = pose_keypoint_to_people(f)
    assert p.n_visible == 0 and p.box_w > 15


@pytest.mark.parametrize("mutate, expect", [
    (lambda f: f["people"][0].update(pose_keypoints_2d=[1.0] * 53), "54"),
    (lambda f: f["people"][0]["pose_keypoints_2d"].__setitem__(4, "12"), "number"),
    (lambda f: f["people"][0]["pose_keypoints_2d"].__setitem__(4, float("nan")), "finite"),
    (lambda f: f["people"][0].update(face_keypoints_2d=[1.0, 2.0]), "multiple of 3"),
    (lambda f: f.update(people="nobody"), "'people' list"),
    (lambda f: f.update(canvas_width=-5), "positive"),
    (lambda f: f["people"].append(7), "person 1"),
])
def test_malformed_pose_keypoint(mutate, expect):
    f = dwpose_frame()
    mutate(f)
    with pytest.raises(ShotCropError, match=expect):
        pose_keypoint_frames([f])


def test_normalised_without_canvas_is_an_error():
    frame, _ = openpose_frame()
    del frame["canvas_width"]
    with pytest.raises(ShotCropError, match="canvas_width"):
        pose_keypoint_to_people(frame)


def test_canvas_of_another_shape_is_refused():
    with pytest.raises(ShotCropError, match="different shape"):
        pose_keypoint_to_people(dwpose_frame(), image_size=(H, W))


def test_nan_in_json_text_is_refused():
    with pytest.raises(ShotCropError, match="NaN"):
        pose_keypoint_frames('[{"people": [{"pose_keypoints_2d": [NaN]}]}]')


# -- COCO ---------------------------------------------------------------------------------------
def test_coco_people_by_file_name():
    coco = CocoKeypoints(COCO_FILE)
    assert sorted(coco.names) == [GROUP, SINGLE]
    group = coco.people_for(f"/somewhere/else/{GROUP}")
    assert len(group) == 4
    (p,) = coco.people_for(SINGLE)
    kp = coco_kp()
    assert set(np.unique(p.keypoints[:, 2])) <= {0.0, 0.5, 1.0}
    assert np.all((p.keypoints[:, 2] == 1.0) == (kp[:, 2] == 2))
    assert np.all((p.keypoints[:, 2] == 0.5) == (kp[:, 2] == 1))
    d = json.loads(COCO_FILE.read_text())
    ann = next(a for a in d["annotations"] if a["image_id"] == 234748)
    x, y, w, h = ann["bbox"]
    assert p.box == pytest.approx((x, y, x + w, y + h))


def test_coco_unknown_image_lists_names():
    with pytest.raises(ShotCropError, match="matched by file name") as e:
        CocoKeypoints(COCO_FILE).people_for("holiday.jpg")
    assert SINGLE in str(e.value) and "holiday.jpg" in str(e.value)


def test_coco_crowd_skipped_boxonly_kept_unannotated_empty(tmp_path):
    d = json.loads(COCO_FILE.read_text())
    d["images"].append({"id": 1, "file_name": "empty.jpg", "width": 100, "height": 80})
    d["annotations"] += [
        {"id": 90, "image_id": 234748, "iscrowd": 1, "bbox": [0, 0, 50, 50], "category_id": 1,
         "keypoints": [0] * 51, "num_keypoints": 0},
        {"id": 91, "image_id": 234748, "iscrowd": 0, "bbox": [10, 20, 30, 40], "category_id": 1,
         "keypoints": [0] * 51, "num_keypoints": 0},
    ]
    path = tmp_path / "kp.json"
    path.write_text(json.dumps(d))
    coco = load_keypoints(path)
    assert isinstance(coco, CocoKeypoints)
    people = coco.people_for(SINGLE)
    assert len(people) == 2 and people[1].box == (10, 20, 40, 60) and people[1].n_visible == 0
    assert coco.people_for("empty.jpg") == []


def test_coco_scaled_onto_a_resized_photo():
    (p,) = CocoKeypoints(COCO_FILE).people_for(SINGLE, image_size=(W * 2, H * 2))
    assert p.keypoints[0, 0] == pytest.approx(coco_kp()[0, 0] * 2)


# -- load_keypoints: formats and matching ---------------------------------------------------------
def write(tmp_path: Path, data, name: str = "kp.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_pose_keypoint_list_matches_by_position(tmp_path):
    src = load_keypoints(write(tmp_path, [dwpose_frame(), {"people": [], "canvas_width": W,
                                                           "canvas_height": H}]))
    assert src.kind == "pose_keypoint" and len(src) == 2
    assert len(src.people_for("whatever.jpg", 0)) == 1
    assert src.people_for("other.jpg", 1) == []
    with pytest.raises(ShotCropError, match="by position"):
        src.people_for("third.jpg", 2)


def test_single_frame_applies_to_a_single_image(tmp_path):
    frame, _ = openpose_frame()
    src = load_keypoints(write(tmp_path, frame))
    (p,) = src.people_for("photo.jpg", 0, image_size=(W, H))
    assert_matches_coco(p, coco_kp(), 0.6)
    with pytest.raises(ShotCropError, match="1 POSE_KEYPOINT frame"):
        src.people_for("second.jpg", 1)


def test_shotcrop_format(tmp_path):
    kp = coco_kp()
    kp[:, 2] = (kp[:, 2] > 0).astype(float)
    person = {"keypoints": kp.reshape(-1).tolist(), "box": [250, 120, 430, 390]}
    one = load_keypoints(write(tmp_path, {"image": f"photos/{SINGLE}", "people": [person]}))
    (p,) = one.people_for(SINGLE)
    assert p.box == (250, 120, 430, 390)
    many = load_keypoints(write(tmp_path, [
        {"image": "a.jpg", "people": [person]},
        {"image": "b.png", "people": [{"keypoints": kp.tolist()}]},  # nested triples, no box
    ], "list.json"))
    assert many.names == ["a.jpg", "b.png"]
    (q,) = many.people_for("B.PNG")  # case differences are tolerated
    assert q.box[1] < kp[kp[:, 2] > 0, 1].min()
    nameless = load_keypoints(write(tmp_path, {"people": [person]}, "nameless.json"))
    assert len(nameless.people_for("anything.jpg", 0)) == 1


def test_missing_and_folder(tmp_path):
    with pytest.raises(ShotCropError, match="not found"):
        load_keypoints(tmp_path / "nope.json")
    with pytest.raises(ShotCropError, match="folder"):
        load_keypoints(tmp_path)


GOOD_KP = [1.0] * 51
BAD_FILES = {
    "not_json": ("{people: oops", "not valid JSON"),
    "nan": ('{"image": "a.jpg", "people": [{"keypoints": [NaN' + ", 1" * 50 + "]}]}", "NaN"),
    "empty_list": ("[]", "empty list"),
    "unknown": ('{"hello": 1}', "not a keypoint format"),
    "short": (json.dumps({"image": "a.jpg", "people": [{"keypoints": [1.0] * 50}]}), "51"),
    "string": (json.dumps({"image": "a.jpg", "people": [{"keypoints": ["1"] * 51}]}), "number"),
    "box": (json.dumps({"image": "a.jpg", "people": [{"keypoints": GOOD_KP, "box": [1, 2]}]}),
            "box"),
    "dup": (json.dumps([{"image": "a.jpg", "people": []}, {"image": "a.jpg", "people": []}]),
            "twice"),
    "coco_kp": (json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}],
                            "annotations": [{"image_id": 1, "keypoints": [1, 2]}]}), "51"),
    "coco_bbox": (json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}],
                              "annotations": [{"image_id": 1, "bbox": "big"}]}), "bbox"),
    "coco_images": (json.dumps({"images": {"a": 1}, "annotations": []}), "images"),
    "pose_len": (json.dumps([{"people": [{"pose_keypoints_2d": [1.0] * 57}],
                              "canvas_width": 10, "canvas_height": 10}]), "54"),
    "binary": (b"\xff\xd8\xff\xe0 jpeg bytes", "JSON"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_malformed_files_give_one_clear_error(tmp_path, name):
    content, expect = BAD_FILES[name]
    path = tmp_path / f"{name}.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ShotCropError, match=expect) as e:
        load_keypoints(path)
    assert str(path) in str(e.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2000) | st.floats(allow_nan=False, width=32)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(
        st.sampled_from(["people", "pose_keypoints_2d", "face_keypoints_2d", "canvas_width",
                         "canvas_height", "images", "annotations", "image", "keypoints", "box",
                         "bbox", "file_name", "id", "image_id", "iscrowd", "categories"]),
        inner, max_size=5),
    max_leaves=30)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=json_values)
def test_arbitrary_json_never_crashes(tmp_path, data):
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(data))
    try:
        src = load_keypoints(path)
    except ShotCropError:
        return
    assert isinstance(src, KeypointSource)
    for i in range(2):
        try:
            src.people_for("a.jpg", i, image_size=(100, 100))
        except ShotCropError:
            pass


def test_no_torch_import():
    code = ("import sys, shotcrop_core.perception.given, shotcrop_core.imageio, "
            "shotcrop_core.render; bad = [m for m in ('torch', 'comfy') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
