"""Speed of the keypoint path: framing time per image and CLI wall time, printed as figures.

    python benchmarks/bench_speed.py [--images DIR --keypoints COCO.json]

Defaults to the dev photos in ../shared/bench/coco when present, else the photos in tests/data.
Targets (issue #2): framing <= 1 ms per image given keypoints; CLI start-up <= 1 s with torch
never imported on that path. Pose-model timings are in bench_pose.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shotcrop_core.framing import compose  # noqa: E402
from shotcrop_core.perception.given import load_keypoints  # noqa: E402


def main() -> None:
    shared = ROOT.parent / "shared" / "bench" / "coco"
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=Path,
                    default=shared / "images" if shared.is_dir() else ROOT / "tests" / "data")
    ap.add_argument("--keypoints", type=Path,
                    default=shared / "person_keypoints.json" if shared.is_dir()
                    else ROOT / "tests" / "data" / "person_keypoints.json")
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()

    kp = load_keypoints(args.keypoints)
    data = json.loads(args.keypoints.read_text())
    sizes = {im["file_name"]: (im["width"], im["height"]) for im in data["images"]}
    items = [(kp.people_for(n), *sizes[n]) for n in kp.names if (args.images / n).is_file()]
    for people, w, h in items:  # warm-up
        compose(people, w, h)
    per_image = []
    for people, w, h in items:
        t = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            compose(people, w, h)
            t.append(time.perf_counter() - t0)
        per_image.append(statistics.median(t))
    ms = [1000 * v for v in per_image]
    print(f"framing given keypoints: {len(items)} photos, median of {args.repeat} runs each")
    print(f"  per image: median {statistics.median(ms):.2f} ms, mean {statistics.mean(ms):.2f} ms,"
          f" max {max(ms):.2f} ms (target <= 1 ms)")

    probe = ("import sys, time; t0 = time.perf_counter(); from shotcrop_core.cli import main;"
             "rc = main(sys.argv[1:]); print('TORCH' if 'torch' in sys.modules else 'NOTORCH',"
             "file=sys.stderr); sys.exit(rc)")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", probe, "--version"], capture_output=True, text=True,
                       env=env)
    startup = time.perf_counter() - t0
    names = [str(args.images / n) for n in kp.names if (args.images / n).is_file()]
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", probe, "compose", *names, "--keypoints",
                            str(args.keypoints), "--out", out, "--json"], capture_output=True,
                           text=True, env=env)
        wall = time.perf_counter() - t0
    torch_used = "TORCH" in r.stderr.split()
    print(f"CLI start-up (shotcrop --version): {startup:.2f} s (target <= 1 s)")
    print(f"CLI compose of {len(names)} photos with keypoints (crops + previews + JSON written): "
          f"{wall:.2f} s wall, exit {r.returncode}, "
          f"torch imported: {'yes' if torch_used else 'no'}")


if __name__ == "__main__":
    main()
