"""The PyTorch BlazePose/BlazeFace pipeline against what the original mediapipe 0.10.21 output
on the same photos (tests/fixtures/mediapipe_reference.json, recorded by
tools/record_mediapipe_reference.py). Runs without mediapipe or any TFLite runtime."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from shotcrop_core import Person, compose  # noqa: E402
from shotcrop_core.imageio import load_image  # noqa: E402
from shotcrop_core.perception import get_estimator  # noqa: E402
from shotcrop_core.perception.blazepose import BlazePoseEstimator  # noqa: E402

HERE = Path(__file__).parent
REF = json.loads((HERE / "fixtures" / "mediapipe_reference.json").read_text())["images"]
SHARED = HERE.parent.parent / "shared" / "bench" / "coco" / "images"


def _photos():
    """The photos of tests/data, plus every dev photo when ../shared is beside the clone."""
    found = {p.name: p for p in (HERE / "data").glob("*.jpg") if p.name in REF}
    if SHARED.is_dir():
        found.update({p.name: p for p in SHARED.glob("*.jpg") if p.name in REF})
    return sorted(found.items())


@pytest.fixture(scope="module")
def est():
    return BlazePoseEstimator(device="cpu").load()


@pytest.mark.parametrize("name, path", _photos())
def test_matches_original_mediapipe(est, name, path):
    ref = REF[name]
    img = np.asarray(load_image(path).image)
    H, W = img.shape[:2]
    tol = 0.01 * max(W, H)           # the bar: within 1% of the image size
    dets = est.detect_people(img)
    assert len(dets) == len(ref["pose"]["detections"])
    for d, r in zip(dets, ref["pose"]["detections"]):
        assert abs(d["score"] - r["score"]) < 1e-3
        assert np.abs(d["kps"] * (W, H) - np.array(r["keypoints"])).max() < 0.05
    poses = est.landmarks(img, dets[:1])   # the original runs the first detection only
    assert bool(poses) == ref["pose"]["found"]
    if poses:
        lm = poses[0].landmarks
        want = np.array([[p["x"], p["y"], p["visibility"]] for p in ref["pose"]["landmarks"]])
        assert np.abs(lm[:, :2] - want[:, :2]).max() < tol
        assert np.abs(lm[:, :2] - want[:, :2]).max() < 1.0    # in fact sub-pixel
        assert np.abs(lm[:, 3] - want[:, 2]).max() < 0.01
    faces = est.detect_faces(img)
    assert len(faces) == len(ref["faces"])
    for f, r in zip(faces, ref["faces"]):
        x, y, w, h = r["box"]
        box = f["box"] * (W, H, W, H)
        assert np.abs(box - (x, y, x + w, y + h)).max() < 0.5
        assert np.abs(f["kps"] * (W, H) - np.array(r["keypoints"])).max() < 0.5


def test_people_as_coco17_and_composed(est, data_dir):
    img = load_image(data_dir / "000000234748.jpg").image
    people = est.estimate(img)
    assert len(people) == 1 and isinstance(people[0], Person)
    p = people[0]
    assert p.keypoints.shape == (17, 3) and p.feet.shape == (4, 3)
    # subject's left shoulder (COCO 5) is on the image's right for a person facing us
    assert p.keypoints[5, 0] > p.keypoints[6, 0]
    shots = compose(people, img.width, img.height)
    assert not shots.fallback and shots.subject is not None


def test_group_photo_gives_several_people(est, data_dir):
    img = load_image(data_dir / "000000000790.jpg").image
    people = est.estimate(img)
    assert len(people) >= 2


def test_no_person(est):
    from PIL import Image
    people = est.estimate(Image.new("RGB", (320, 240), (120, 160, 200)))
    assert people == []


def test_registered_as_default(monkeypatch):
    assert get_estimator("blazepose").name == "blazepose"


def test_cli_composes_with_no_flag(data_dir, tmp_path, capsys):
    """`shotcrop compose photo.jpg`: no keypoints, no download: the built-in pose model."""
    from shotcrop_core.cli import main

    rc = main(["compose", str(data_dir / "000000234748.jpg"), "--json", "--out", str(tmp_path)])
    line = json.loads(capsys.readouterr().out)
    assert rc == 0 and line["subject"] is not None and len(line["shots"]) == 3
    assert (tmp_path / "000000234748_preview.jpg").is_file()


def test_move_between_devices(data_dir):
    """`to("cpu")` (what ComfyUI's offload asks for) keeps the estimator working."""
    est = BlazePoseEstimator(device="cpu").load()
    img = load_image(data_dir / "000000234748.jpg").image
    before = est.estimate(img)
    after = est.to("cpu").estimate(img)
    assert len(before) == len(after) == 1
    assert np.allclose(before[0].keypoints, after[0].keypoints)


def test_readme_main_command_offline_with_empty_hub_cache(tmp_path):
    """The README's main command, as written there, in a fresh interpreter with no network and
    an empty Hub cache: the sample photo is composed by the built-in pose model."""
    import re
    import shutil
    import subprocess
    import sys

    from conftest import ROOT, offline_env

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Set up.*?```\n(.*?)\n```", readme, re.S).group(1)
    install, _, command = block.partition(" && ")
    assert install.startswith("pip install -e .") and command.startswith("shotcrop compose ")
    assert "--keypoints" not in command   # the no-download path is the main job
    args = command.split()[2:]
    # A user's clone: the sample photo at the path the README names, run from the clone's root.
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "photo.jpg", tmp_path / "examples" / "photo.jpg")
    r = subprocess.run([sys.executable, "-m", "shotcrop_core", "compose", *args, "--json"],
                       cwd=tmp_path, env=offline_env(tmp_path / "empty_hf_home"),
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    line = json.loads(r.stdout)
    assert line["subject"] is not None and [s["shot"] for s in line["shots"]] == [
        "establishing", "medium", "close_up"]
    out = tmp_path / args[args.index("--out") + 1]
    assert {p.name for p in out.iterdir()} >= {"photo_establishing.jpg", "photo_medium.jpg",
                                               "photo_close_up.jpg", "photo_preview.jpg",
                                               "photo_shots.json"}
    assert not (tmp_path / "empty_hf_home" / "hub").exists()   # nothing was fetched or cached
