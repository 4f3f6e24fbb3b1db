"""The ported MediaPipe networks against the TFLite interpreter's recorded outputs.

The fixture (tools/record_blaze_nets_reference.py) holds two small uint8 images and the
interpreter's outputs on them, so no TFLite runtime or mediapipe is needed here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "blaze_nets_reference.npz"
NAMES = ("pose_detection", "pose_landmark_full", "face_detection_full_range")
HEAT_STRIDE = 8  # as recorded
#: |torch - tflite| <= REL * max(1, max|tflite|): float reordering gives ~2e-5 at most; a wrong
#: weight, padding or layout gives O(1).
REL = 2e-4


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURE, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def blow_up(img: np.ndarray, name: str) -> np.ndarray:
    """Same recipe as the recorder: nearest neighbour by integer indices, then the net's range."""
    from shotcrop_core.perception.blaze_nets import INPUT_RANGE, INPUT_SIZE

    s, (lo, hi) = INPUT_SIZE[name], INPUT_RANGE[name]
    iy, ix = (np.arange(s) * img.shape[0]) // s, (np.arange(s) * img.shape[1]) // s
    return (img[iy][:, ix].astype(np.float32) / 255.0 * (hi - lo) + lo)[None]


def close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, what
    tol = REL * max(1.0, float(np.abs(want).max()))
    diff = float(np.abs(got - want).max())
    assert diff <= tol, f"{what}: max abs diff {diff:.3g} > {tol:.3g}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("image", ["photo", "noise"])
def test_matches_tflite(ref: dict[str, np.ndarray], name: str, image: str) -> None:
    torch = pytest.importorskip("torch")
    from shotcrop_core.perception.blaze_nets import load

    net = load(name)
    x = torch.from_numpy(blow_up(ref[image], name)).permute(0, 3, 1, 2).contiguous()
    with torch.inference_mode():
        out = [o.numpy() if o is not None else None for o in net(x)]
    key = f"{name}/{image}"
    if name == "pose_landmark_full":
        landmarks, flag, heat, world = out
        assert landmarks.shape == (1, 195) and flag.shape == (1, 1) and world.shape == (1, 117)
        assert heat.shape == (1, 39, 64, 64)
        close(landmarks, ref[f"{key}/landmarks"], key + " landmarks")
        close(flag, ref[f"{key}/pose_flag"], key + " pose_flag")
        close(world, ref[f"{key}/world"], key + " world")
        heat = heat.transpose(0, 2, 3, 1)[:, ::HEAT_STRIDE, ::HEAT_STRIDE]  # recorded NHWC, subsampled
        close(heat, ref[f"{key}/heatmap"], key + " heatmap")
    else:
        reg, cls = out
        n, k = (2254, 12) if name == "pose_detection" else (2304, 16)
        assert reg.shape == (1, n, k) and cls.shape == (1, n, 1)
        close(cls, ref[f"{key}/classificators"], key + " classificators")
        close(reg[:, ref[f"{key}/regressors_idx"]], ref[f"{key}/regressors"], key + " regressors")


def test_photo_is_detected(ref: dict[str, np.ndarray]) -> None:
    """The fixture photo (one man by a car) is a person and a face to the recorded networks."""
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    assert sig(ref["pose_detection/photo/classificators"].max()) > 0.5
    assert sig(ref["face_detection_full_range/photo/classificators"].max()) > 0.5
    assert ref["pose_landmark_full/photo/pose_flag"][0, 0] > 0.5


def test_landmark_without_heatmap(ref: dict[str, np.ndarray]) -> None:
    torch = pytest.importorskip("torch")
    from shotcrop_core.perception.blaze_nets import load

    net = load("pose_landmark_full", heatmap=False)
    x = torch.from_numpy(blow_up(ref["photo"], "pose_landmark_full")).permute(0, 3, 1, 2)
    with torch.inference_mode():
        landmarks, _, heat, _ = net(x)
    assert heat is None
    close(landmarks.numpy(), ref["pose_landmark_full/photo/landmarks"], "landmarks without heatmap")


def test_weights_are_safetensors_with_notice() -> None:
    from shotcrop_core.perception.blaze_nets import WEIGHT_FILES, WEIGHTS_DIR

    for file in WEIGHT_FILES.values():
        head = (WEIGHTS_DIR / file).read_bytes()[:16]
        assert head[8:9] == b"{", f"{file} is not a safetensors file"
    notice = (WEIGHTS_DIR / "NOTICE").read_text()
    assert "mediapipe 0.10.21" in notice and "Apache License" in notice and notice.count("sha256") >= 3


def test_import_does_not_load_torch() -> None:
    code = "import sys, shotcrop_core, shotcrop_core.perception; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
