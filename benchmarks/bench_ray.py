"""Composing on Ray against plain `shotcrop compose`, on this machine, in one run (issue #18).

    python benchmarks/bench_ray.py [--images DIR] [--keypoints COCO.json] [--photos 400]
                                   [--small 40] [--perception-photos 160] [--runs 3]
                                   [--address local] [--device auto]   # --photos 0: perception only

The modes, interleaved round by round (medians of --runs):

* `compose` with 1 and 2 workers: whole `shotcrop compose` processes on --small and --photos
  photos (the dev photos repeated under new names);
* `compose --ray` with 1 and 2 actors, run here through the same driver the CLI uses
  (`scale.driver.compose_on_ray`) on one cluster started once (`--address local`: this machine),
  on --small and --photos photos;
* once: the whole `shotcrop compose --ray local` process on --photos photos (what a user's run
  costs, starting and stopping its own cluster), and the cluster's own start (`ray.init`).

Per photo = (T(photos) - T(small)) / (photos - small); start-up = T(small) - small x per photo
(for Ray: the actors' start, on a running cluster). Ray's overhead per photo is its cost per photo
less plain compose's with as many workers. Given keypoints first (the framing engine alone: a few
ms a photo, where an overhead shows most), then the built-in perception (MoveNet, CPU-bound) on
--perception-photos photos (0 skips it); --device cuda puts it on the GPU (with 2 actors,
0.5 GPU each).
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

WORKERS = (1, 2)


def _process(src: Path, kp: Path | None, out: Path, workers: int, device: str,
             ray: str | None = None) -> float:
    cmd = [sys.executable, "-m", "shotcrop_core", "compose", str(src), "--out", str(out),
           "--workers", str(workers), "--force", "--device", device]
    if kp is not None:
        cmd += ["--keypoints", str(kp), "--perception", "keypoints"]
    if ray:
        cmd += ["--ray", ray] + (["--gpus-per-worker", str(1 / workers)]
                                 if device.startswith("cuda") else [])
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return dt


def _on_ray(src: Path, kp: Path | None, out: Path, workers: int, device: str) -> float:
    from shotcrop_core.batch import ComposeRun
    from shotcrop_core.scale.driver import compose_on_ray

    run = ComposeRun(out=str(out), perception="keypoints" if kp else "auto",
                     keypoints=str(kp) if kp else None, device=device)
    t = time.perf_counter()
    outcomes = list(compose_on_ray(run, [str(src)], workers=workers,
                                   gpus_per_worker=1 / workers if device.startswith("cuda")
                                   else None))
    dt = time.perf_counter() - t
    bad = [o.error for o in outcomes if not o.ok]
    if bad:
        sys.exit(f"compose on Ray failed: {bad[0]}")
    return dt


def measure(sets: dict[int, tuple[Path, Path | None]], tmp: Path, args) -> dict:
    """Median seconds per (mode, workers, photos); every run writes into a folder of its own."""
    tmp = Path(tempfile.mkdtemp(dir=tmp))
    times: dict[tuple, list[float]] = {}
    big = max(sets)
    for r in range(args.runs):
        for n, (src, kp) in sets.items():
            for w in WORKERS:
                times.setdefault(("compose", w, n), []).append(
                    _process(src, kp, tmp / f"c{w}_{n}_{r}", w, args.device))
                times.setdefault(("ray", w, n), []).append(
                    _on_ray(src, kp, tmp / f"r{w}_{n}_{r}", w, args.device))
        src, kp = sets[big]
        times.setdefault(("process", 2, big), []).append(
            _process(src, kp, tmp / f"p_{r}", 2, args.device, ray="local"))
        print(f"  round {r + 1}/{args.runs} done", file=sys.stderr, flush=True)
    return {k: statistics.median(v) for k, v in times.items()}


def report(title: str, t: dict, small: int, big: int, cluster_start: float) -> None:
    print(f"\n{title}: {big} photos (start-up and per photo from {small} vs {big} photos)")
    print("| run | workers | seconds | photos/s | start-up s | ms per photo | "
          "Ray overhead ms per photo |")
    print("|---|---|---|---|---|---|---|")
    per = {(m, w): (t[(m, w, big)] - t[(m, w, small)]) / (big - small)
           for m in ("compose", "ray") for w in WORKERS}
    for m in ("compose", "ray"):
        for w in WORKERS:
            p = per[(m, w)]
            over = f"{1000 * (p - per[('compose', w)]):+.1f}" if m == "ray" else ""
            name = "compose" if m == "compose" else "compose --ray (running cluster)"
            print(f"| {name} | {w} | {t[(m, w, big)]:.2f} | {big / t[(m, w, big)]:.1f} | "
                  f"{t[(m, w, small)] - small * p:.2f} | {1000 * p:.1f} | {over} |")
    whole = t[("process", 2, big)]
    print(f"| `shotcrop compose --ray local` (whole process, its own cluster) | 2 | "
          f"{whole:.2f} | {big / whole:.1f} | | | |")
    for w in WORKERS:
        ratio = per[("ray", w)] / per[("compose", w)]
        print(f"Ray / compose per photo, {w} worker(s): {ratio:.2f}x")
    print(f"2 vs 1 actors per photo: {per[('ray', 1)] / per[('ray', 2)]:.2f}x the speed; "
          f"cluster start (ray.init): {cluster_start:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=SHARED / "images")
    ap.add_argument("--keypoints", type=Path, default=SHARED / "person_keypoints.json")
    ap.add_argument("--photos", type=int, default=400)
    ap.add_argument("--small", type=int, default=40)
    ap.add_argument("--perception-photos", type=int, default=160)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--address", default="local", help="local, or a running cluster's address")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if not args.keypoints.exists():
        sys.exit(f"no keypoints at {args.keypoints}: give --images and --keypoints")
    import logging

    import ray

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    t = time.perf_counter()
    ray.init(address=args.address, include_dashboard=False, logging_level=logging.ERROR)
    cluster_start = time.perf_counter() - t
    res = ray.cluster_resources()
    print(f"machine: {os.cpu_count()} CPUs; cluster {res.get('CPU', 0):g} CPUs, "
          f"{res.get('GPU', 0):g} GPUs; Python {sys.version.split()[0]}; Ray {ray.__version__}; "
          f"device {args.device}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.photos:
            sets = {n: repeated(args.images, args.keypoints, n, tmp / f"photos_{n}")
                    for n in (args.small, args.photos)}
            report("Given keypoints (framing engine)", measure(sets, tmp, args), args.small,
                   args.photos, cluster_start)
        if args.perception_photos:
            small = max(8, args.perception_photos // 4)
            psets = {n: (repeated(args.images, args.keypoints, n, tmp / f"p_{n}")[0], None)
                     for n in (small, args.perception_photos)}
            report("Built-in perception (MoveNet)", measure(psets, tmp, args), small,
                   args.perception_photos, cluster_start)
    ray.shutdown()


if __name__ == "__main__":
    main()
