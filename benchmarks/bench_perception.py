"""Speed of the built-in perception stacks: ms per ~1 MP photo with 1 and 3 people.

    python benchmarks/bench_perception.py [--repeat 15] [--threads 2] [--tfjs WORK_DIR]
                                          [--found IMAGES COCO_JSON]

Photos are built from examples/photo.jpg (one person, and the person three times side by side),
so this runs from a bare clone. For the default stack (NanoDet people + MoveNet Thunder
landmarks) it prints the whole estimate and each network's share; for BlazePose the whole
estimate, all in one run so the ratios hold. With --tfjs (needs node + the npm registry; tool
time only) each network also runs in its original runtime, TF.js 4.22 in Node, CPU and WASM
backends, on the same machine. Targets (issue #14): <= 60 ms with one person and <= 90 ms with
three, on 2 CPU threads. With CUDA the same figures are printed for the GPU, plus a batch of 8
photos through `estimate_batch`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from shotcrop_core.perception import movenet as M  # noqa: E402
from shotcrop_core.perception import nanodet as N  # noqa: E402
from shotcrop_core.perception.blazepose import BlazePoseEstimator  # noqa: E402
from shotcrop_core.perception.topdown import TopDownEstimator  # noqa: E402


def photos() -> dict[str, Image.Image]:
    src = Image.open(ROOT / "examples" / "photo.jpg").convert("RGB")
    one = src.resize((1225, 816), Image.BICUBIC)                     # 1.0 MP, one person
    person = src.crop((230, 60, 460, 425)).resize((400, 635), Image.BICUBIC)
    three = Image.new("RGB", (1260, 800), (128, 128, 128))           # 1.0 MP, three people
    for k in range(3):
        three.paste(person, (20 + 420 * k, 120))
    return {"1 person": one, "3 people": three}


def timed(fn, repeat: int) -> float:
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return 1000 * statistics.median(ts)


def tfjs_times(work: Path, repeat: int) -> None:
    from tfjs_runner import TfjsRunner

    runner = TfjsRunner(work)
    rng = np.random.default_rng(0)
    nets = TopDownEstimator(device="cpu").load()._nets
    inputs = {"nanodet": ("nanodet", rng.normal(0, 1, (3, N.SIZE, N.SIZE)).astype(np.float32),
                          "float32")}
    for kind, (stem, size) in M.NETS.items():
        inputs[kind] = (stem.replace("_", "-"),
                        rng.integers(0, 256, (size, size, 3)).astype(np.float32), "int32")
    for name, (model, x, dtype) in inputs.items():
        with torch.inference_mode():
            xt = torch.from_numpy(x)[None]
            mine = timed(lambda: nets[name](xt.int() if dtype == "int32" else xt), repeat)
        theirs = {b: statistics.median(runner.run(model, [x], repeat=max(3, repeat // 3),
                                                  backend=b, dtype=dtype)[0][1])
                  for b in ("cpu", "wasm")}
        print(f"  {name:9s} {tuple(x.shape)}: ours {mine:.1f} ms; TF.js cpu {theirs['cpu']:.1f} ms,"
              f" wasm {theirs['wasm']:.1f} ms")


def people_found(images: Path, keypoints: Path) -> None:
    """People the annotators boxed who cover >= 1% of their photo, found by each stack (a box of
    IoU >= 0.5), and main subjects found (the largest boxed person)."""
    from shotcrop_core.boxmath import iou
    from shotcrop_core.imageio import load_image
    from shotcrop_core.perception.given import load_keypoints

    coco = load_keypoints(keypoints)
    stacks = {"NanoDet + MoveNet": TopDownEstimator(device="cpu"),
              "BlazePose": BlazePoseEstimator(device="cpu")}
    for label, est in stacks.items():
        total = found = subjects = photos = 0
        for name in coco.names:
            path = images / name
            if not path.is_file():
                continue
            img = load_image(path).image
            W, H = img.size
            humans = [h for h in coco.people_for(path)
                      if (h.box[2] - h.box[0]) * (h.box[3] - h.box[1]) >= 0.01 * W * H]
            if not humans:
                continue
            people = est.estimate(img)
            hit = [max((iou(h.box, p.box) for p in people), default=0.0) >= 0.5 for h in humans]
            main_idx = max(range(len(humans)), key=lambda i: humans[i].box_w * humans[i].box_h)
            total, found = total + len(hit), found + sum(hit)
            subjects, photos = subjects + hit[main_idx], photos + 1
        print(f"{label}: people covering >= 1% found {found}/{total} (target >= 34/38), "
              f"main subject found {subjects}/{photos}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tfjs", type=Path, metavar="WORK_DIR",
                    help="also time the original runtime (TF.js in Node); npm caches go here")
    ap.add_argument("--found", nargs=2, type=Path, metavar=("IMAGES", "COCO_JSON"),
                    help="also count the labelled people each stack finds")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.found:
        people_found(*args.found)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", GPU: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else
             ", no GPU"))
    for dev in devices:
        top, blaze = TopDownEstimator(device=dev).load(), BlazePoseEstimator(device=dev).load()
        for label, img in photos().items():
            dets = top.detect([img])[0]
            big = top._worth_landmarks(dets)
            total = timed(lambda: top.estimate(img), args.repeat)
            det = timed(lambda: top.detect([img]), args.repeat)
            one = [(img, big[0])] if big else []
            thunder = timed(lambda: top.landmarks(one, "thunder"), args.repeat)
            light = timed(lambda: top.landmarks(one, "lightning"), args.repeat)
            bp = timed(lambda: blaze.estimate(img), args.repeat)
            target = {"1 person": 60, "3 people": 90}[label]
            print(f"{dev:4s} {label} ({img.width}x{img.height}): NanoDet + MoveNet {total:.1f} ms "
                  f"(people {det:.1f} ms; {len(big)} with landmarks, one Thunder "
                  f"{thunder:.1f} ms, one Lightning {light:.1f} ms)"
                  + (f", target <= {target} ms" if dev == "cpu" else "")
                  + f"; BlazePose {bp:.1f} ms; ratio {total / bp:.2f}")
        if dev == "cuda":
            batch = [photos()["3 people"]] * 8
            t = timed(lambda: top.estimate_batch(batch), args.repeat)
            print(f"cuda batch of 8 photos (3 people each): {t / 8:.1f} ms per photo")
    if args.tfjs:
        tfjs_times(args.tfjs, args.repeat)


if __name__ == "__main__":
    main()
