"""Composing on Ray against plain `shotcrop compose`, on this machine, in one run (issue #18).

    python benchmarks/bench_ray.py [--images DIR] [--keypoints COCO.json] [--photos 400]
                                   [--small 40] [--perception-photos 96] [--runs 3]
                                   [--address local] [--device auto]   # --photos 0: perception only

Each figure is a whole `shotcrop compose` process (median of --runs, the modes interleaved):
plain compose with 1 and 2 workers, and `--ray ADDRESS` with 1 and 2 actors (`local`: each run
starts and stops its own cluster, as a user's first run does). Two sizes, --small and --photos
photos (the dev photos repeated under new names), split each run into start-up and a cost per
photo: per photo = (T(photos) - T(small)) / (photos - small), start-up = T(small) - small x per
photo. Ray's overhead per photo is its cost per photo less plain compose's with as many workers.

Given keypoints (the framing engine alone, a few ms a photo: where an overhead shows most),
then the built-in perception (MoveNet, CPU-bound) on --perception-photos photos (0 skips it).
With --device cuda the perception runs on the GPU (one actor per GPU share, --gpus-per-worker
0.5 for two actors).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import SHARED, repeated  # noqa: E402

MODES = (("compose", 1), ("compose", 2), ("ray", 1), ("ray", 2))


def _cmd(mode: str, workers: int, src: Path, kp: Path | None, out: Path, args) -> list[str]:
    cmd = [sys.executable, "-m", "shotcrop_core", "compose", str(src), "--out", str(out),
           "--workers", str(workers), "--force", "--device", args.device]
    if kp is not None:
        cmd += ["--keypoints", str(kp), "--perception", "keypoints"]
    if mode == "ray":
        cmd += ["--ray", args.address]
        if args.device.startswith("cuda"):
            cmd += ["--gpus-per-worker", str(1 / workers)]
    return cmd


def _time(cmd: list[str]) -> float:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return dt


def measure(sets: dict[int, tuple[Path, Path | None]], runs: int, tmp: Path, args
            ) -> dict[tuple[str, int, int], float]:
    """Median seconds per (mode, workers, photos), the modes and sizes interleaved."""
    times: dict[tuple[str, int, int], list[float]] = {}
    for r in range(runs):
        for n, (src, kp) in sets.items():
            for mode, w in MODES:
                out = tmp / f"out_{mode}_{w}_{n}"
                times.setdefault((mode, w, n), []).append(
                    _time(_cmd(mode, w, src, kp, out, args)))
        print(f"  round {r + 1}/{runs} done", file=sys.stderr, flush=True)
    return {k: statistics.median(v) for k, v in times.items()}


def report(title: str, t: dict, small: int, big: int) -> None:
    print(f"\n{title}: {big} photos (start-up and per photo from {small} vs {big})")
    print("| run | workers | seconds | photos/s | start-up s | ms per photo | "
          "Ray overhead ms/photo |")
    print("|---|---|---|---|---|---|---|")
    per = {}
    for mode, w in MODES:
        per[(mode, w)] = (t[(mode, w, big)] - t[(mode, w, small)]) / (big - small)
    for mode, w in MODES:
        p = per[(mode, w)]
        start = t[(mode, w, small)] - small * p
        over = f"{1000 * (p - per[('compose', w)]):+.1f}" if mode == "ray" else ""
        name = "compose" if mode == "compose" else "compose --ray local"
        print(f"| {name} | {w} | {t[(mode, w, big)]:.2f} | {big / t[(mode, w, big)]:.1f} | "
              f"{start:.2f} | {1000 * p:.1f} | {over} |")
    for w in (1, 2):
        print(f"Ray / compose, {w} worker(s), whole run: "
              f"{t[('ray', w, big)] / t[('compose', w, big)]:.2f}x the time; per photo: "
              f"{per[('ray', w)] / per[('compose', w)]:.2f}x")
    print(f"2 vs 1 Ray actors, per photo: {per[('ray', 1)] / per[('ray', 2)]:.2f}x the speed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=SHARED / "images")
    ap.add_argument("--keypoints", type=Path, default=SHARED / "person_keypoints.json")
    ap.add_argument("--photos", type=int, default=400)
    ap.add_argument("--small", type=int, default=40)
    ap.add_argument("--perception-photos", type=int, default=96)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--address", default="local", help="local, or a running cluster's address")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if not args.keypoints.exists():
        sys.exit(f"no keypoints at {args.keypoints}: give --images and --keypoints")
    print(f"machine: {os.cpu_count()} CPUs; Python {sys.version.split()[0]}; device "
          f"{args.device}; Ray {__import__('ray').__version__}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sets = {n: repeated(args.images, args.keypoints, n, tmp / f"photos_{n}")
                for n in (args.small, args.photos) if args.photos}
        if args.photos:
            report("Given keypoints (framing engine)", measure(sets, args.runs, tmp, args),
                   args.small, args.photos)
        if args.perception_photos:
            small = max(8, args.perception_photos // 4)
            psets = {n: (repeated(args.images, args.keypoints, n, tmp / f"p_{n}")[0], None)
                     for n in (small, args.perception_photos)}
            report("Built-in perception (MoveNet)", measure(psets, args.runs, tmp, args),
                   small, args.perception_photos)


if __name__ == "__main__":
    main()
