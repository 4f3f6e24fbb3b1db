"""Speed of the built-in BlazePose perception: ms per photo for 1 and 3 people, CPU and GPU.

    python benchmarks/bench_blazepose.py [--repeat 15]

Photos are ~1 megapixel, built from the sample photo in examples/ (one person, and the person
three times side by side), so the script runs from a bare clone. Target (issue #3): <= 60 ms
per 1 MP photo on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from shotcrop_core.perception.blazepose import BlazePoseEstimator  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", GPU: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else
             ", no GPU"))
    for dev in devices:
        est = BlazePoseEstimator(device=dev).load()
        for label, img in photos().items():
            arr = np.asarray(img)
            n = len(est.estimate(img))
            total = timed(lambda: est.estimate(img), args.repeat)
            det = timed(lambda: est.detect_people(arr), args.repeat)
            dets = est.detect_people(arr)
            lm = timed(lambda: est.landmarks(arr, dets), args.repeat)
            print(f"{dev:4s} {label} ({img.width}x{img.height}, {n} found): "
                  f"{total:.1f} ms per photo (detector {det:.1f} ms, landmarks {lm:.1f} ms)"
                  + ("  target <= 60 ms" if dev == "cpu" else ""))


if __name__ == "__main__":
    main()
