"""`shotcrop bench`: score shots against human keypoints (the grammar) and expert boxes (TSC).

Shots may be built from any landmark source (given keypoints, a pose model) by the framing engine
or, with `--engine vlm` (compose's options), by any Qwen VL checkpoint, repaired by the grammar
on those landmarks; photos whose answer stayed unusable get the framing engine's shots and are
counted. Shots are always judged against the human keypoints of the person they were built
around, matched by box.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from dataclasses import dataclass, field
from pathlib import Path

from .. import grammar as G
from ..anatomy import measure
from ..errors import ShotCropError
from ..keypoints import Person
from ..models import DEFAULT_VLM
from ..shots import ShotSet
from .report import format_table, markdown_table, write_report

log = logging.getLogger("shotcrop")

#: Columns of the validity table: (header, what it counts).
METRICS = (
    ("establishing valid", "establishing shot meets its definition"),
    ("medium valid", "medium shot meets its definition"),
    ("close_up valid", "close-up meets its definition"),
    ("coherent", "areas grow and each shot lies >= 90% inside the next"),
    ("eye line", "eyes 20-45% from the top in the medium and the close-up"),
    ("no awkward cut", "no bottom or side edge at a knee, elbow, wrist or ankle"),
    ("look room", "close-up leaves room on the side the face turns to"),
    ("all valid + coherent", "all three shots valid and the set coherent"),
    ("eye line + no cut", "eye line kept and no awkward cut"),
)


@dataclass
class ValidityResult:
    counts: dict[str, int] = field(default_factory=lambda: {m: 0 for m, _ in METRICS})
    scored: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, dict]] = field(default_factory=list)

    def add(self, image: str, rep: G.SetReport | None) -> None:
        self.scored += 1
        if rep is None:  # no shots built around a person: fails every metric
            self.failures.append((image, {"set": ["no subject matched a person"]}))
            return
        v = rep.valid
        row = {"establishing valid": v["establishing"], "medium valid": v["medium"],
               "close_up valid": v["close_up"], "coherent": rep.coherent,
               "eye line": rep.eye_line, "no awkward cut": rep.no_cut,
               "look room": rep.look_room,
               "all valid + coherent": rep.all_valid and rep.coherent,
               "eye line + no cut": rep.eye_line and rep.no_cut}
        for k, ok in row.items():
            self.counts[k] += bool(ok)
        bad = {k: f for k, f in rep.failures.items() if f}
        if bad or not rep.coherent:
            self.failures.append((image, bad | ({} if rep.coherent else {"set": ["incoherent"]})))

    def rate(self, metric: str) -> float:
        return self.counts[metric] / self.scored if self.scored else float("nan")

    def table(self) -> tuple[list[str], list[list]]:
        return (["metric", "rate", "photos", "meaning"],
                [[m, self.rate(m), f"{self.counts[m]}/{self.scored}", d] for m, d in METRICS])


def _box_iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_subject(shots: ShotSet, humans: list[Person]) -> Person | None:
    """The human-annotated person the shots were built around (best box IoU, at least 0.3)."""
    if shots.subject is None or not humans:
        return None
    sb = shots.subject.box
    best = max(humans, key=lambda p: _box_iou(p.clipped(shots.width, shots.height).box,
                                              sb.to_list()))
    return best if _box_iou(best.clipped(shots.width, shots.height).box,
                            sb.to_list()) >= 0.3 else None


def score_validity(shots: ShotSet, humans: list[Person]) -> G.SetReport | None:
    person = match_subject(shots, humans)
    if person is None:
        return None
    boxes = {s.name: s.box.rect for s in shots}
    return G.check_set(boxes, measure(person), shots.width, shots.height)


@dataclass
class Composed:
    """A bench run's shots per photo name, the landmarks they were built on, and how."""

    preds: dict[str, ShotSet] = field(default_factory=dict)
    found: dict[str, list[Person]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)  # per photo
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: photos where the model's answer stayed unusable and the framing engine stood in
    fallbacks: list[str] = field(default_factory=list)


def _compose_all(args, images: list[Path], keypoints, estimator, options,
                 engine=None) -> Composed:
    """Shots for every photo: the framing engine, or `engine` (a VLM engine) in batches; the
    people from the run's landmark source go to either (the model's shots are repaired on them)."""
    from ..cli import _compose_one, _people, _propose_chunks
    from ..imageio import load_image
    from ..progress import progress

    out = Composed()

    def prepare(i: int, path: Path):
        try:
            loaded = load_image(path)
            people = _people(loaded, i, keypoints, estimator)
        except ShotCropError as e:
            out.skipped.append((path.name, str(e)))
            return None
        out.found[path.name] = people
        return loaded, people

    if engine is not None:
        for path, _, shots, seconds in _propose_chunks(engine, images, prepare, options, "bench"):
            out.preds[path.name] = shots
            out.seconds.append(seconds)
            if shots.source == "framing":  # the engine's own fallback, flagged in its warnings
                out.fallbacks.append(path.name)
        return out
    for i, path in enumerate(progress(images, desc="bench", unit="photo")):
        prepared = prepare(i, path)
        if prepared is None:
            continue
        t0 = time.perf_counter()
        try:
            out.preds[path.name] = _compose_one(prepared, options)
        except ShotCropError as e:
            out.skipped.append((path.name, str(e)))
            continue
        out.seconds.append(time.perf_counter() - t0)
    return out


def pck(pred: Person, human: Person, alpha: float = 0.1) -> float | None:
    """Share of the human-labelled keypoints the prediction puts within alpha x the person box's
    longer side (PCK@alpha); None when the human labelled none."""
    lab = human.keypoints[:, 2] > 0
    if not lab.any():
        return None
    d = np.hypot(*(pred.keypoints[lab, :2] - human.keypoints[lab, :2]).T)
    return float(np.mean(d <= alpha * max(human.box_w, human.box_h)))


def run_bench(args) -> int:
    from ..cli import _framing_options, _make_estimator, _make_vlm
    from ..perception.given import CocoKeypoints, load_keypoints
    from .tsc import load_tsc, score_tsc

    img_dir = Path(args.images)
    if not img_dir.is_dir():
        raise ShotCropError(f"--images {img_dir} is not a folder of photos")
    coco = load_keypoints(args.keypoints) if args.keypoints else None
    if coco is not None and not isinstance(coco, CocoKeypoints):
        raise ShotCropError(f"{args.keypoints}: bench needs a COCO person_keypoints file "
                            "(human keypoints matched by file name)")
    tsc = load_tsc(args.tsc) if args.tsc else None
    if args.report and Path(args.report).exists() and not args.force:  # before any model loads
        raise ShotCropError(f"report {args.report} already exists; pass --force to overwrite "
                            "it, or choose another --report path")
    estimator = _make_estimator(args, coco)

    names: list[str] = []
    if coco is not None:
        names += coco.names
    if tsc is not None:
        names += [Path(s.image).name for s in tsc.samples if Path(s.image).name not in names]
    images = [img_dir / n for n in names if (img_dir / n).is_file()]
    missing = [n for n in names if not (img_dir / n).is_file()]
    if not images:
        raise ShotCropError(f"none of the {len(names)} images named in the annotations is in "
                            f"{img_dir}")
    if estimator is None and coco is None:
        raise ShotCropError("--tsc alone needs a pose model: use --perception vitpose, or "
                            "give --keypoints")
    options = _framing_options(args, estimator)
    engine = _make_vlm(args) if args.engine in ("vlm", "vllm") else None
    run = _compose_all(args, images, coco, estimator, options, engine)
    preds, found, skipped = run.preds, run.found, run.skipped
    sections: list[tuple[str, str]] = []
    src = "given keypoints" if estimator is None else f"{estimator.name} perception"
    made_by = ("the framing engine" if engine is None else
               f"{args.engine} model {args.model or DEFAULT_VLM}")
    print(f"shotcrop bench: {len(images)} photos from {img_dir}, landmarks from {src}, "
          f"shots from {made_by}")

    if coco is not None:
        res = ValidityResult(skipped=skipped)
        pcks: list[float] = []
        for path in images:
            humans = [p for p in coco.people_for(path) if p.n_visible >= 3]
            if not humans or path.name not in preds:
                continue
            shots = preds[path.name]
            res.add(path.name, score_validity(shots, humans))
            if estimator is not None:
                # PCK of the main subject: the human subject (the most prominent annotated
                # person) against the predicted person matched to it; a miss scores 0.
                from ..subject import choose_subject

                h = humans[choose_subject(humans, shots.width, shots.height)]
                cand = [p for p in found[path.name]
                        if _box_iou(p.clipped(shots.width, shots.height).box,
                                    h.clipped(shots.width, shots.height).box) >= 0.3]
                best = max((pck(p, h) or 0.0 for p in cand), default=0.0)
                pcks.append(best)
        head, rows = res.table()
        print("\nShot validity against human keypoints (shot grammar)")
        print(format_table(head, rows))
        if estimator is not None and pcks:
            line = (f"PCK@0.1 of the main subject: {np.mean(pcks):.3f} over {len(pcks)} photos "
                    f"(a subject the model missed counts 0)")
            print(line)
            sections.append(("Landmarks", line))
        fail_lines = "\n".join(f"- {img}: " + "; ".join(f"{k}: {', '.join(v)}"
                                                         for k, v in f.items())
                               for img, f in res.failures)
        sections.append(("Shot validity against human keypoints",
                         f"{res.scored} photos, landmarks from {src}.\n\n"
                         + markdown_table(head, rows)
                         + (f"\n\nFailures:\n\n{fail_lines}" if fail_lines else "")))
    if tsc is not None:
        result = score_tsc(preds, tsc)
        head, rows = result.table()
        print(f"\nTSC: IoU and BDE against expert boxes ({len(result.rows)}/{result.total} scored)")
        print(format_table(head, rows))
        for img, why in result.errors:
            print(f"  not scored: {img}: {why}")
        sections.append(("TSC IoU / BDE", markdown_table(head, rows)))
    if run.seconds:
        ms = 1000 * sum(run.seconds) / len(run.seconds)
        print(f"{args.engine}: {ms:.2f} ms per photo (mean of {len(run.seconds)})")
    if engine is not None:
        line = (f"{len(run.fallbacks)} of {len(preds)} photo(s) fell back to the framing engine "
                "(the model's answer was unusable twice)")
        print(line + (f": {', '.join(run.fallbacks[:10])}" if run.fallbacks else ""))
        sections.insert(0, ("Engine", f"Shots from {made_by}; {line}."))
    for name, why in skipped:
        print(f"  skipped {name}: {why}")
    if missing:
        print(f"  {len(missing)} annotated image(s) not found in {img_dir}")
    if args.report:
        write_report(args.report, "ShotCrop benchmark", sections, force=args.force)
        print(f"report written to {args.report}")
    return 0
