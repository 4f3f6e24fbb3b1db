"""Throughput of `shotcrop compose` on a folder, against the I/O floor (issue #15).

    python benchmarks/bench_throughput.py [--images DIR] [--keypoints COCO.json]
                                          [--many 1000] [--perception-photos 1000] [--runs 5]

All in one run, so the ratios hold on a noisy machine:

* floor: a plain script (a fresh process, like compose) that decodes each photo and saves three
  crops plus a JPEG copy of it: what reading and writing the photos costs at least;
* compose with --keypoints on the photos (median of --runs whole-process runs), 1 and 2 workers;
* --many photos (the photos repeated under new names, with a keypoint file naming each): photos
  per second with 1 and 2 workers, and the peak memory of the whole process tree at 100 photos
  and at --many;
* the built-in perception on --perception-photos photos: photos per second with 1 and 2
  workers (0 skips it).

Defaults to the dev photos in ../shared/bench/coco beside the clone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench" / "coco"

FLOOR = r"""
import sys
from pathlib import Path
from PIL import Image
src, out = Path(sys.argv[1]), Path(sys.argv[2])
for p in sorted(src.glob("*.jpg")):
    with Image.open(p) as im:
        im = im.convert("RGB")
        W, H = im.size
        for k, f in enumerate((1.0, 0.6, 0.3)):   # three nested centre crops
            w, h = int(W * f), int(H * f)
            box = ((W - w) // 2, (H - h) // 2, (W + w) // 2, (H + h) // 2)
            im.crop(box).save(out / f"{p.stem}_{k}.jpg", quality=95)
        im.save(out / f"{p.stem}_copy.jpg", quality=90)
"""


def tree_rss(pid: int) -> int:
    """Resident memory (bytes) of a process and all its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def timed(cmd: list[str], pythonpath: Path | None = None,
          env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds of a whole process and the peak RSS of its process tree (sampled)."""
    env = {**os.environ, **(env or {})}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    t0 = time.perf_counter()
    # `python -m` looks in the working folder first: run from the checkout being timed.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd=pythonpath or ROOT)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    t.join()
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    return time.perf_counter() - t0, peak[0]


def compose_cmd(src: Path, out: Path, keypoints: Path | None, workers: int) -> list[str]:
    cmd = [sys.executable, "-m", "shotcrop_core", "compose", str(src), "--out", str(out),
           "--workers", str(workers), "--force"]
    return cmd + (["--keypoints", str(keypoints)] if keypoints else [])


def repeated(images: Path, keypoints: Path, n: int, dest: Path) -> tuple[Path, Path]:
    """`n` photos (the dev photos under new names, as links) and a COCO file naming each."""
    coco = json.loads(keypoints.read_text())
    src = [i for i in coco["images"] if (images / i["file_name"]).is_file()]
    dest.mkdir(parents=True, exist_ok=True)
    imgs, anns = [], []
    by_image: dict[int, list] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    for k in range(n):
        i = src[k % len(src)]
        name = f"p{k:06d}_{i['file_name']}"
        os.symlink(images / i["file_name"], dest / name)
        new_id = k + 1
        imgs.append({**i, "id": new_id, "file_name": name})
        anns += [{**a, "id": len(anns) + 1, "image_id": new_id} for a in by_image.get(i["id"], [])]
    kp = dest.parent / f"{dest.name}.json"
    kp.write_text(json.dumps({**coco, "images": imgs, "annotations": anns}))
    return dest, kp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=SHARED / "images")
    ap.add_argument("--keypoints", type=Path, default=SHARED / "person_keypoints.json")
    ap.add_argument("--many", type=int, default=1000)
    ap.add_argument("--perception-photos", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--before", type=Path, metavar="CHECKOUT",
                    help="also time compose from another checkout of shotcrop (e.g. a git "
                         "worktree of an older commit), in the same run")
    args = ap.parse_args()
    args.images, args.keypoints = args.images.resolve(), args.keypoints.resolve()
    if args.before:
        args.before = args.before.resolve()
    if not args.images.is_dir() or not args.keypoints.is_file():
        sys.exit(f"need --images DIR and --keypoints COCO.json (default {SHARED})")
    n_photos = len(list(args.images.glob("*.jpg")))
    print(f"{n_photos} photos from {args.images}, {os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        floor, comp, before = [], {1: [], 2: []}, []
        # One photo alone: what starting a process costs, apart from the photos.
        one = tmp / "one"
        one.mkdir()
        first = sorted(args.images.glob("*.jpg"))[0]
        os.symlink(first, one / first.name)
        floor1, comp1 = [], []
        for r in range(args.runs):  # interleaved, so drift hits all alike
            out = tmp / f"floor{r}"
            out.mkdir()
            floor.append(timed([sys.executable, "-c", FLOOR, str(args.images), str(out)])[0])
            for w in (1, 2):
                comp[w].append(timed(compose_cmd(args.images, tmp / f"c{w}_{r}", args.keypoints,
                                                 w))[0])
            (tmp / f"f1_{r}").mkdir()
            floor1.append(timed([sys.executable, "-c", FLOOR, str(one), str(tmp / f"f1_{r}")])[0])
            comp1.append(timed(compose_cmd(one, tmp / f"c1_{r}", args.keypoints, 1))[0])
            if args.before:
                cmd = [sys.executable, "-m", "shotcrop_core", "compose",
                       *map(str, sorted(args.images.glob("*.jpg"))), "--out", str(tmp / f"b{r}"),
                       "--keypoints", str(args.keypoints)]
                before.append(timed(cmd, args.before)[0])
        f = statistics.median(floor)
        print(f"floor (decode + 3 crops + a JPEG copy, whole process): {f:.2f} s")
        if before:
            b = statistics.median(before)
            print(f"compose --keypoints from {args.before}: {b:.2f} s = {b / f:.2f}x the floor")
        for w in (1, 2):
            c = statistics.median(comp[w])
            print(f"compose --keypoints, {w} worker(s): {c:.2f} s = {c / f:.2f}x the floor "
                  f"(target <= 1.5x)")
        # Split into start-up (one photo) and the cost of each further photo.
        f1, c1, c = statistics.median(floor1), statistics.median(comp1), statistics.median(comp[1])
        more = max(n_photos - 1, 1)  # one photo alone: nothing further to split
        per_f, per_c = (f - f1) / more, (c - c1) / more
        print(f"  start-up (one photo): floor {f1:.2f} s, compose {c1:.2f} s; each further "
              f"photo: floor {1000 * per_f:.1f} ms, compose {1000 * per_c:.1f} ms "
              f"({per_c / per_f:.2f}x)")
        if args.many:
            src, kp = repeated(args.images, args.keypoints, args.many, tmp / "many")
            # The first 100 of the same photos, with the same keypoint file (its size is the
            # input's, not the stream's): what grows between the two runs is what the run keeps.
            first = tmp / "first100.txt"
            first.write_text("\n".join(str(p) for p in sorted(src.iterdir())[:100]) + "\n")
            for w in (1, 2):
                cmd = compose_cmd(src, tmp / f"h{w}", kp, w)
                cmd[cmd.index(str(src))] = "--list"
                cmd.insert(cmd.index("--list") + 1, str(first))
                _, peak100 = timed(cmd)
                secs, peak = timed(compose_cmd(src, tmp / f"m{w}", kp, w))
                print(f"{args.many} photos, --keypoints, {w} worker(s): {args.many / secs:.1f} "
                      f"photos/s; peak memory {peak100 / 2**20:.0f} MiB at 100 photos, "
                      f"{peak / 2**20:.0f} MiB at {args.many} ({peak / peak100:.2f}x)")
        if args.perception_photos:
            src, _ = repeated(args.images, args.keypoints, args.perception_photos, tmp / "pp")
            rate = {}
            # One worker uses every core for the networks (torch's threads); pinned to one
            # thread it shows what a second worker on the second core adds.
            for w, threads in ((1, None), (1, 1), (2, None)):
                env = {"OMP_NUM_THREADS": str(threads)} if threads else None
                secs, peak = timed(compose_cmd(src, tmp / f"p{w}_{threads}", None, w), env=env)
                rate[w, threads] = args.perception_photos / secs
                how = f", {threads} thread" if threads else ""
                print(f"{args.perception_photos} photos, built-in perception, {w} worker(s)"
                      f"{how}: {rate[w, threads]:.1f} photos/s, peak memory "
                      f"{peak / 2**20:.0f} MiB")
            print(f"2 workers / 1 worker: {rate[2, None] / rate[1, None]:.2f}x (target >= 1.8x); "
                  f"2 workers / 1 worker on 1 thread: {rate[2, None] / rate[1, 1]:.2f}x")


if __name__ == "__main__":
    main()
