#!/usr/bin/env python3
"""Check blaze_nets against the TFLite interpreter and record tests/fixtures/blaze_nets_reference.npz.

    python tools/record_blaze_nets_reference.py [--wheel mediapipe-0.10.21-...whl] [--photos DIR]

Needs a TFLite interpreter (`pip install ai-edge-litert`, or tflite-runtime), in a throwaway venv
or --target dir: tool-time only. It compares every output of the three ported networks with the
interpreter's, on seeded random inputs and on real photos (letterboxed to each input size), and
prints the max abs difference per output. The fixture it writes is small (< 300 KB): two uint8
images (a 128x128 letterboxed photo and 32x32 noise) that tests blow up to each net's input size by
integer nearest-neighbour indexing, and the interpreter's outputs on them, subsampled.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.convert_mediapipe import MODELS, VERSION, get_wheel  # noqa: E402

FIXTURE = ROOT / "tests/fixtures/blaze_nets_reference.npz"
PHOTO = "000000234748.jpg"  # COCO val: one person, face visible (from shared/bench/coco)
REG_STRIDE, HEAT_STRIDE, TOP_K = 8, 8, 16


def interpreter(model: bytes):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter
    it = Interpreter(model_content=model, num_threads=2)
    it.allocate_tensors()
    return it


def run_tflite(it, x: np.ndarray) -> dict[str, np.ndarray]:
    """x: NHWC float32. Outputs by TFLite name (Identity, Identity_1, ...)."""
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return {o["name"]: it.get_tensor(o["index"]).copy() for o in it.get_output_details()}


def run_torch(net, x: np.ndarray) -> dict[str, np.ndarray]:
    """Same names as the TFLite outputs; the heatmap back to NHWC, no segmentation."""
    import torch

    with torch.inference_mode():
        out = net(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
    if len(out) == 2:
        return {"Identity": out[0].numpy(), "Identity_1": out[1].numpy()}
    lm, flag, heat, world = out
    return {"Identity": lm.numpy(), "Identity_1": flag.numpy(),
            "Identity_3": heat.permute(0, 2, 3, 1).numpy(), "Identity_4": world.numpy()}


def blow_up(img: np.ndarray, name: str) -> np.ndarray:
    """uint8 HxWx3 -> [1,S,S,3] float32 in the net's range (nearest neighbour, integer indices)."""
    from shotcrop_core.perception.blaze_nets import INPUT_RANGE, INPUT_SIZE

    s, (lo, hi) = INPUT_SIZE[name], INPUT_RANGE[name]
    iy, ix = (np.arange(s) * img.shape[0]) // s, (np.arange(s) * img.shape[1]) // s
    return (img[iy][:, ix].astype(np.float32) / 255.0 * (hi - lo) + lo)[None]


def letterbox(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    im = Image.open(path).convert("RGB")
    scale = size / max(im.size)
    w, h = max(1, round(im.width * scale)), max(1, round(im.height * scale))
    out = np.zeros((size, size, 3), np.uint8)
    y0, x0 = (size - h) // 2, (size - w) // 2
    out[y0:y0 + h, x0:x0 + w] = np.asarray(im.resize((w, h), Image.BILINEAR))
    return out


def subsample(name: str, ref: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What goes into the fixture for one net and one input."""
    if name == "pose_landmark_full":
        return {"landmarks": ref["Identity"], "pose_flag": ref["Identity_1"],
                "heatmap": ref["Identity_3"][:, ::HEAT_STRIDE, ::HEAT_STRIDE], "world": ref["Identity_4"]}
    reg, cls = ref["Identity"], ref["Identity_1"]
    idx = np.union1d(np.arange(0, reg.shape[1], REG_STRIDE), np.argsort(-cls[0, :, 0])[:TOP_K])
    return {"regressors_idx": idx.astype(np.int32), "regressors": reg[:, idx], "classificators": cls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", type=Path, help=f"mediapipe-{VERSION} wheel (downloaded when omitted)")
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared/bench/coco/images")
    ap.add_argument("--no-record", action="store_true", help="only compare, keep the fixture")
    args = ap.parse_args()
    import torch

    from shotcrop_core.perception.blaze_nets import INPUT_RANGE, INPUT_SIZE, load

    torch.set_num_threads(2)
    photos = sorted(args.photos.glob("*.jpg"))
    fixture: dict[str, np.ndarray] = {
        "photo": letterbox(args.photos / PHOTO, 128),
        "noise": np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8),
    }
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(get_wheel(args.wheel, Path(tmp))) as zf:
        for name, inner in MODELS.items():
            it, net = interpreter(zf.read(inner)), load(name)
            s, (lo, hi) = INPUT_SIZE[name], INPUT_RANGE[name]
            rng = np.random.default_rng(1)
            cases = [(f"random{i}", rng.uniform(lo, hi, (1, s, s, 3)).astype(np.float32)) for i in range(3)]
            cases += [(p.name, (letterbox(p, s).astype(np.float32) / 255.0 * (hi - lo) + lo)[None])
                      for p in photos]
            worst: dict[tuple[str, str], tuple[float, float]] = {}
            for case, x in cases:
                ref, got = run_tflite(it, x), run_torch(net, x)
                group = "random" if case.startswith("random") else "photos"
                for k, v in got.items():
                    d, m = worst.get((group, k), (0.0, 0.0))
                    d, m = max(d, float(np.abs(v - ref[k]).max())), max(m, float(np.abs(ref[k]).max()))
                    worst[group, k] = (d, m)
            print(f"{name}: 3 random inputs, {len(photos)} photos")
            for (group, k), (d, m) in worst.items():
                print(f"  {group:6s} {k:11s} max|torch - tflite| = {d:.3g}   (max|tflite| = {m:.3g})")
            for key in ("photo", "noise"):
                for k, v in subsample(name, run_tflite(it, blow_up(fixture[key], name))).items():
                    fixture[f"{name}/{key}/{k}"] = v
    fixture["source"] = np.array([f"mediapipe=={VERSION}", *MODELS.values()])
    if not args.no_record:
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(FIXTURE, **fixture)
        print(f"wrote {FIXTURE.relative_to(ROOT)}: {FIXTURE.stat().st_size / 1e3:.0f} KB")


if __name__ == "__main__":
    main()
