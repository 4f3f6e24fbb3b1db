"""Speed of the keypoint path: framing time per image and CLI wall time, printed as figures.

    python benchmarks/bench_speed.py [--images DIR --keypoints COCO.json] [--before CHECKOUT]

Defaults to the dev photos in ../shared/bench/coco when present, else the photos in tests/data.
Targets (issues #2, #15): framing <= 1 ms per image given keypoints; CLI start-up <= 1 s with
torch never imported on that path. `--before` times another checkout's framing engine on the
same photos, in rounds alternating with this one's, and prints the ratio. Pose-model timings
are in bench_pose.py.
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


def time_framing(root: Path, images: Path, keypoints: Path, repeat: int) -> list[float]:
    """Per-image median seconds of `compose` from the checkout at `root` (this process)."""
    sys.path.insert(0, str(root))
    from shotcrop_core.framing import compose
    from shotcrop_core.perception.given import load_keypoints

    kp = load_keypoints(keypoints)
    data = json.loads(keypoints.read_text())
    sizes = {im["file_name"]: (im["width"], im["height"]) for im in data["images"]}
    items = [(kp.people_for(n), *sizes[n]) for n in kp.names if (images / n).is_file()]
    for people, w, h in items:  # warm-up
        compose(people, w, h)
    per_image = []
    for people, w, h in items:
        t = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            compose(people, w, h)
            t.append(time.perf_counter() - t0)
        per_image.append(statistics.median(t))
    return per_image


def framing_rounds(root: Path, args: argparse.Namespace) -> list[float]:
    """`time_framing` in a fresh process (one checkout's modules per process)."""
    r = subprocess.run([sys.executable, __file__, "--time-framing", str(root), "--images",
                        str(args.images), "--keypoints", str(args.keypoints), "--repeat",
                        str(args.repeat)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def main() -> None:
    shared = ROOT.parent / "shared" / "bench" / "coco"
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=Path,
                    default=shared / "images" if shared.is_dir() else ROOT / "tests" / "data")
    ap.add_argument("--keypoints", type=Path,
                    default=shared / "person_keypoints.json" if shared.is_dir()
                    else ROOT / "tests" / "data" / "person_keypoints.json")
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--before", type=Path, metavar="CHECKOUT",
                    help="another checkout (e.g. a git worktree of an older commit) to time too")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds with --before")
    ap.add_argument("--time-framing", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.time_framing:
        print(json.dumps(time_framing(args.time_framing, args.images, args.keypoints,
                                      args.repeat)))
        return

    runs = {ROOT: []}
    if args.before:
        runs[args.before.resolve()] = []
    for _ in range(args.rounds if args.before else 1):
        for root, got in runs.items():
            got.append(framing_rounds(root, args))
    n = len(runs[ROOT][0])
    print(f"framing given keypoints: {n} photos, median of {args.repeat} runs each"
          + (f", best of {args.rounds} alternating rounds" if args.before else ""))
    medians = {}
    for root, got in runs.items():
        ms = [1000 * min(r[i] for r in got) for i in range(n)]
        medians[root] = statistics.median(ms)
        label = "this checkout" if root == ROOT else f"before ({root})"
        print(f"  {label}: per image median {statistics.median(ms):.2f} ms, mean "
              f"{statistics.mean(ms):.2f} ms, max {max(ms):.2f} ms (target <= 1 ms)")
    if args.before:
        print(f"  before / this checkout: {medians[args.before.resolve()] / medians[ROOT]:.2f}x")

    probe = ("import sys, time; t0 = time.perf_counter(); from shotcrop_core.cli import main;"
             "rc = main(sys.argv[1:]); print('TORCH' if 'torch' in sys.modules else 'NOTORCH',"
             "file=sys.stderr); sys.exit(rc)")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", probe, "--version"], capture_output=True, text=True,
                       env=env)
    startup = time.perf_counter() - t0
    listed = [im["file_name"] for im in json.loads(args.keypoints.read_text())["images"]]
    names = [str(args.images / n) for n in listed if (args.images / n).is_file()]
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
