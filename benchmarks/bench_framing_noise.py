"""How the framing engine holds up when landmarks are off by as much as a pose model's are.

    python benchmarks/bench_framing_noise.py [--images DIR --keypoints COCO.json] [--draws 30]

For each photo the human COCO keypoints are moved by Gaussian noise of the size BlazePose's
landmarks are off from the human ones on the dev photos (standard deviation per joint, in u =
eye-to-shoulder height: face ~0.1, shoulders 0.2, arms 0.25, hips 0.45, knees 0.35, ankles 0.45),
each person's box is rebuilt from its landmarks the way the BlazePose path builds it (their extent
+ 8%, the top 0.6u above the eyes), the engine frames them as it frames a pose model's output
(`joint_uncertainty=ESTIMATED`), and the shots are scored against the clean human keypoints.

This separates the engine's robustness from detection: missed or swapped people are not
simulated (`shotcrop bench --perception blazepose` measures the whole path). Prints the rate of
"all valid + coherent" and "eye line + no cut" per photo and overall, exact keypoints beside.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shotcrop_core.anatomy import measure  # noqa: E402
from shotcrop_core.bench.validity import score_validity  # noqa: E402
from shotcrop_core.framing import FramingOptions, compose  # noqa: E402
from shotcrop_core.imageio import load_image  # noqa: E402
from shotcrop_core.keypoints import EYES, Person  # noqa: E402
from shotcrop_core.perception.given import load_keypoints  # noqa: E402

#: Standard deviation of BlazePose's landmark error per COCO-17 keypoint, in u (measured on the
#: dev photos against the human keypoints; median absolute errors 0.05-0.4u).
SIGMA_U = np.array([0.10, 0.08, 0.08, 0.15, 0.15, 0.20, 0.20, 0.25, 0.25, 0.25, 0.25,
                    0.45, 0.45, 0.35, 0.35, 0.45, 0.45])


def like_a_pose_model(p: Person, rng: np.random.Generator) -> Person:
    """`p`'s labelled keypoints moved by pose-model-sized noise, with a box from landmarks."""
    u = measure(p).u
    kp = p.keypoints.copy()
    seen = kp[:, 2] > 0
    kp[:, :2] += rng.normal(size=(17, 2)) * (SIGMA_U[:, None] * u)
    kp[:, 2] = np.where(seen, 0.9, 0.0)
    x0, y0 = kp[seen, :2].min(axis=0)
    x1, y1 = kp[seen, :2].max(axis=0)
    pad = 0.08 * max(x1 - x0, y1 - y0)
    eyes = kp[list(EYES)][kp[list(EYES), 2] > 0]
    # A pose model always places a face; with no eyes labelled, take the labelled box's top.
    top = min(y0, eyes[:, 1].min() - 0.6 * u) if len(eyes) else p.box[1] + rng.normal() * 0.3 * u
    return Person(kp, (x0 - pad, top, x1 + pad, y1 + pad), 0.9)


def rates(shots, humans) -> np.ndarray:
    rep = score_validity(shots, humans)
    if rep is None:
        return np.zeros(2)
    return np.array([rep.all_valid and rep.coherent, rep.eye_line and rep.no_cut], float)


def main(argv: list[str] | None = None) -> None:
    shared = ROOT.parent / "shared" / "bench" / "coco"
    here = shared if shared.is_dir() else ROOT / "tests" / "data"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=Path,
                    default=here / "images" if shared.is_dir() else here)
    ap.add_argument("--keypoints", type=Path, default=here / "person_keypoints.json")
    ap.add_argument("--draws", type=int, default=30, help="noisy draws per photo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--uncertainty", type=float, default=FramingOptions.ESTIMATED,
                    help="the engine's joint_uncertainty (u) for the noisy landmarks")
    args = ap.parse_args(argv)

    coco = load_keypoints(args.keypoints)
    rng = np.random.default_rng(args.seed)
    noisy_opts = FramingOptions(joint_uncertainty=args.uncertainty)
    exact_total, noisy_total, n = np.zeros(2), np.zeros(2), 0
    print(f"{'photo':22s} {'exact':>11s} {'noisy':>11s}   (valid+coherent, eye line+no cut)")
    for name in coco.names:
        path = args.images / name
        if not path.is_file():
            continue
        loaded = load_image(path)
        humans = [p for p in coco.people_for(path) if p.n_visible >= 3]
        if not humans:
            continue
        W, H = loaded.width, loaded.height
        exact = rates(compose(humans, W, H, image=loaded.image), humans)
        noisy = np.zeros(2)
        for _ in range(args.draws):
            people = [like_a_pose_model(p, rng) for p in humans]
            noisy += rates(compose(people, W, H, noisy_opts, image=loaded.image), humans)
        noisy /= args.draws
        exact_total, noisy_total, n = exact_total + exact, noisy_total + noisy, n + 1
        print(f"{name:22s} {exact[0]:5.2f} {exact[1]:5.2f} {noisy[0]:5.2f} {noisy[1]:5.2f}")
    if not n:
        sys.exit(f"no photo of {args.keypoints} found in {args.images}")
    e, z = exact_total / n, noisy_total / n
    print(f"{'all ' + str(n) + ' photos':22s} {e[0]:5.2f} {e[1]:5.2f} {z[0]:5.2f} {z[1]:5.2f}")


if __name__ == "__main__":
    main()
