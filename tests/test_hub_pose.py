"""HubPoseEstimator on tiny random-weight models, loaded offline through the real Hub-cache path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
huggingface_hub = pytest.importorskip("huggingface_hub")

from PIL import Image  # noqa: E402

from shotcrop_core.errors import ModelUnavailableError, ShotCropError  # noqa: E402
from shotcrop_core.keypoints import Person  # noqa: E402
from shotcrop_core.models import DEFAULT_PERSON_DETECTOR, DEFAULT_POSE_MODEL  # noqa: E402
from shotcrop_core.perception import PoseEstimator  # noqa: E402
from shotcrop_core.perception.hub_pose import HubPoseEstimator, resolve_model_dir  # noqa: E402
from tiny_models import build_tiny_rtdetr, build_tiny_vitpose, save_to_hub_cache  # noqa: E402

PHOTO = Path(__file__).parent / "data" / "000000229358.jpg"
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Nothing listens here: if offline mode were ignored, a request would fail fast, never leave the box.
from conftest import DEAD_ENDPOINT  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {"det": build_tiny_rtdetr(root / "det"), "pose": build_tiny_vitpose(root / "pose")}


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(PHOTO).convert("RGB")


def _check_people(people, image: Image.Image, max_people: int = 20) -> None:
    assert isinstance(people, list) and 0 < len(people) <= max_people
    for p in people:
        assert isinstance(p, Person)
        assert p.keypoints.shape == (17, 3) and np.isfinite(p.keypoints).all()
        assert ((p.keypoints[:, 2] >= 0) & (p.keypoints[:, 2] <= 1.5)).all()
        x0, y0, x1, y1 = p.box
        assert np.isfinite(p.box).all()
        assert -1 <= x0 < x1 <= image.width + 1 and -1 <= y0 < y1 <= image.height + 1
        # Keypoints are in source pixels, in the person's own crop: the box widened to ViTPose's
        # 3:4 input and padded by 1.25 (at most max(w, h) beyond the box). Only the median is
        # checked: DARK refinement on random-weight heatmaps can throw single points far out.
        pad = max(p.box_w, p.box_h) + 2
        mx, my = np.median(p.keypoints[:, :2], axis=0)
        assert x0 - pad <= mx <= x1 + pad and y0 - pad <= my <= y1 + pad
    scores = [p.score for p in people]
    assert scores == sorted(scores, reverse=True)


def _cause_chain(e: BaseException) -> list[BaseException]:
    out = []
    while e is not None:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def test_default_repos_from_offline_hub_cache(tiny, photo, offline_hub):
    snap_det = save_to_hub_cache(tiny["det"], offline_hub, DEFAULT_PERSON_DETECTOR)
    snap_pose = save_to_hub_cache(tiny["pose"], offline_hub, DEFAULT_POSE_MODEL)
    assert (snap_det / "model.safetensors").is_symlink()
    # The exact lookup the estimator does: the snapshot in our tmp cache, found offline.
    assert resolve_model_dir(DEFAULT_PERSON_DETECTOR) == snap_det
    assert resolve_model_dir(DEFAULT_POSE_MODEL) == snap_pose

    est = HubPoseEstimator(score_threshold=0.0)
    assert isinstance(est, PoseEstimator) and est.name == "vitpose"
    people = est.estimate(photo)
    _check_people(people, photo)
    assert est._person_id == 1  # read from id2label, not a hard-coded 0
    moved = est.to("cpu").estimate(photo)  # what ComfyUI's "offload to CPU" asks between runs
    assert [p.box for p in moved] == [p.box for p in people]
    assert est._device.type == "cpu" or torch.cuda.is_available()

    # Default threshold: whatever comes out clears it (random weights may find no one).
    strict = HubPoseEstimator(score_threshold=0.5)
    assert all(p.score > 0.5 for p in strict.estimate(photo))


def test_empty_cache_offline_names_repo_and_fallbacks(offline_hub, photo):
    with pytest.raises(ModelUnavailableError) as info:
        HubPoseEstimator().estimate(photo)
    msg = str(info.value)
    assert DEFAULT_PERSON_DETECTOR in msg
    assert f"hf download {DEFAULT_PERSON_DETECTOR}" in msg and "--keypoints" in msg
    # It really went through huggingface_hub's offline mode, not a network failure.
    from huggingface_hub.errors import OfflineModeIsEnabled
    assert any(isinstance(e, OfflineModeIsEnabled) for e in _cause_chain(info.value))


def test_missing_pose_model_is_named(tiny, offline_hub):
    save_to_hub_cache(tiny["det"], offline_hub, DEFAULT_PERSON_DETECTOR)
    with pytest.raises(ModelUnavailableError, match=DEFAULT_POSE_MODEL):
        HubPoseEstimator().load()


def test_local_folders(tiny, photo, offline_hub):
    est = HubPoseEstimator(detector=str(tiny["det"]), pose_model=str(tiny["pose"]),
                           device="cpu", dtype="fp32", score_threshold=0.0, max_people=3)
    _check_people(est.estimate(photo), photo, max_people=3)


def test_no_detections_and_batch(tiny, photo):
    est = HubPoseEstimator(str(tiny["det"]), str(tiny["pose"]), score_threshold=1.0)
    assert est.estimate(photo) == []  # sigmoid scores never exceed 1.0
    est.score_threshold = 0.0
    gray = photo.convert("L").resize((320, 240))
    batch = est.estimate_batch([photo, gray])
    assert len(batch) == 2
    _check_people(batch[0], photo)
    _check_people(batch[1], gray)
    # Batching does not change the answer for an image.
    single = est.estimate(photo)
    np.testing.assert_allclose([p.box for p in single], [p.box for p in batch[0]], atol=1e-3)


def test_pickle_only_folder_is_refused(tmp_path, tiny):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text((tiny["det"] / "config.json").read_text())
    (folder / "pytorch_model.bin").write_bytes(b"not loaded, never unpickled")
    with pytest.raises(ShotCropError, match="pickle") as info:
        HubPoseEstimator(detector=str(folder), pose_model=str(tiny["pose"])).load()
    assert not isinstance(info.value, ModelUnavailableError)
    assert "pytorch_model.bin" in str(info.value)


def test_missing_local_folder(tiny):
    with pytest.raises(ShotCropError, match="not found"):
        HubPoseEstimator(detector="./no/such/model", pose_model=str(tiny["pose"])).load()


def test_import_does_not_pull_in_torch():
    code = ("import sys, shotcrop_core, shotcrop_core.perception, shotcrop_core.perception.hub_pose; "
            "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_env_vars_in_fresh_interpreter(tiny, tmp_path):
    """HF_HOME + HF_HUB_OFFLINE=1 exactly as a user sets them, read by a fresh huggingface_hub."""
    home = tmp_path / "hf"
    save_to_hub_cache(tiny["det"], home / "hub", DEFAULT_PERSON_DETECTOR)
    save_to_hub_cache(tiny["pose"], home / "hub", DEFAULT_POSE_MODEL)
    code = f"""
import json
from PIL import Image
from shotcrop_core.errors import ModelUnavailableError
from shotcrop_core.perception.hub_pose import HubPoseEstimator
people = HubPoseEstimator(score_threshold=0.0).estimate(Image.open({str(PHOTO)!r}))
try:
    HubPoseEstimator(detector="shotcrop-test/not-cached").load()
    err = ""
except ModelUnavailableError as e:
    err = str(e)
print(json.dumps({{"people": len(people), "err": err}}))
"""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE")}
    env.update(HF_HOME=str(home), HF_HUB_OFFLINE="1", HF_ENDPOINT=DEAD_ENDPOINT,
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["people"] > 0
    assert "shotcrop-test/not-cached" in result["err"] and "--keypoints" in result["err"]


def test_explicit_cache_dir_and_revision_pair(tiny, photo, offline_hub, tmp_path):
    other = tmp_path / "elsewhere"
    rev_det, rev_pose = "a" * 40, "b" * 40
    save_to_hub_cache(tiny["det"], other, DEFAULT_PERSON_DETECTOR, revision_hex=rev_det)
    save_to_hub_cache(tiny["pose"], other, DEFAULT_POSE_MODEL, revision_hex=rev_pose)
    est = HubPoseEstimator(cache_dir=other, revision=(rev_det, rev_pose), score_threshold=0.0)
    _check_people(est.estimate(photo), photo)
    with pytest.raises(ModelUnavailableError, match=DEFAULT_PERSON_DETECTOR):  # not in HF_HOME
        HubPoseEstimator().load()
