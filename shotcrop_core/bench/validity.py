"""`shotcrop bench`: score shots against human keypoints (the grammar) and expert boxes (TSC).

Shots may be built from any landmark source (given keypoints, a pose model) by the framing engine
or, with `--engine vlm` (compose's options), by any Qwen VL checkpoint, repaired by the grammar
on those landmarks; photos whose answer stayed unusable get the framing engine's shots and are
counted. Shots are always judged against the human keypoints of the person they were built
around, matched by box.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .. import grammar as G
from ..anatomy import measure
from ..errors import ShotCropError
from ..framing import FramingOptions
from ..keypoints import Person
from ..shots import SHOT_NAMES, ShotSet
from ..subject import choose_subject, match_subject, people_matching
from .report import format_table, markdown_table, write_report

if TYPE_CHECKING:
    from ..pipeline import Pipeline

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
    ("faces whole", "no edge slices the face of another person >= half the subject's height"),
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
               "look room": rep.look_room, "faces whole": rep.faces_whole,
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


def score_validity(shots: ShotSet, humans: list[Person]) -> G.SetReport | None:
    person = match_subject(shots, humans)
    if person is None:
        return None
    boxes = {s.name: s.box.rect for s in shots}
    faces = G.bystander_faces(humans, next(i for i, h in enumerate(humans) if h is person))
    return G.check_set(boxes, measure(person), shots.width, shots.height, faces, shots.beyond)


def padding_table(preds: dict[str, ShotSet]) -> tuple[list[str], list[list]] | None:
    """Shots reaching past the photo (beyond_photo): per shot, how many, and the share of each
    crop that is padding (mean over all photos, over those that reach past, and the max); None
    when no shot reaches past its photo."""
    rows, any_past = [], False
    for name in SHOT_NAMES:
        shares = [s[name].box.padding_share(s.width, s.height) for s in preds.values()]
        past = [v for v in shares if v > 0]
        any_past = any_past or bool(past)
        if not past:
            rows.append([name, f"0/{len(shares)}", "0", "-", "0"])
            continue
        rows.append([name, f"{len(past)}/{len(shares)}", f"{np.mean(shares):.3f}",
                     f"{np.mean(past):.3f}", f"{max(past):.3f}"])
    if not any_past:
        return None
    return ["shot", "past the photo", "padding (mean)", "mean where past", "max"], rows


@dataclass
class Composed:
    """A bench run's shots per photo name, the landmarks they were built on, and how."""

    preds: dict[str, ShotSet] = field(default_factory=dict)
    found: dict[str, list[Person]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)  # per photo
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: photos where the model's answer stayed unusable and the framing engine stood in
    fallbacks: list[str] = field(default_factory=list)


def compose_all(pipe: "Pipeline", images: list[Path]) -> Composed:
    """Shots for every photo through the one pipeline (framing engine or VLM + repair)."""
    from ..progress import progress

    out = Composed()
    for r in pipe.run(progress(images, desc="bench", unit="photo")):
        name = Path(r.name).name
        if not r.ok:
            out.skipped.append((name, r.error))
            continue
        out.found[name] = r.people
        out.preds[name] = r.shots
        out.seconds.append(r.seconds)
        if pipe.engine is not None and r.shots.source == "framing":  # flagged in its warnings
            out.fallbacks.append(name)
    return out


def pck(pred: Person, human: Person, alpha: float = 0.1) -> float | None:
    """Share of the human-labelled keypoints the prediction puts within alpha x the person box's
    longer side (PCK@alpha); None when the human labelled none."""
    lab = human.keypoints[:, 2] > 0
    if not lab.any():
        return None
    d = np.hypot(*(pred.keypoints[lab, :2] - human.keypoints[lab, :2]).T)
    return float(np.mean(d <= alpha * max(human.box_w, human.box_h)))


def score_run(run: Composed, coco: Any, images: list[Path], with_pck: bool = False
              ) -> tuple[ValidityResult, list[float]]:
    """Validity of a run's shots against the human keypoints of `coco`, and (`with_pck`: the
    landmarks came from a model) PCK@0.1 of each photo's main subject: the most prominent
    annotated person against the predicted people matched to it; a miss scores 0."""
    res = ValidityResult(skipped=list(run.skipped))
    pcks: list[float] = []
    for path in images:
        if not coco.covers(path):  # a --tsc photo the human keypoints do not name
            continue
        humans = [p for p in coco.people_for(path) if p.n_visible >= 3]
        if not humans or path.name not in run.preds:
            continue
        shots = run.preds[path.name]
        res.add(path.name, score_validity(shots, humans))
        if with_pck:
            W, H = shots.width, shots.height
            h = humans[choose_subject(humans, W, H)]
            found = run.found[path.name]
            cand = [found[i] for i in people_matching(h.clipped_box(W, H), found, W, H)]
            pcks.append(max((pck(p, h) or 0.0 for p in cand), default=0.0))
    return res, pcks


def run_bench(images_dir: str | Path, keypoints: str | Path | None = None,
              tsc: str | Path | None = None, report: str | Path | None = None,
              force: bool = False, perception: str = "auto", device: str = "auto",
              framing: FramingOptions | None = None, engine: Any = None,
              engine_name: str = "the framing engine", engine_kind: str = "framing",
              echo: Callable[[str], None] = print) -> int:
    """Score shots against human keypoints (`keypoints`, COCO) and/or expert boxes (`tsc`).

    Landmarks come from `perception` (`pipeline.people_source`: auto = the human keypoints);
    `engine` is a VLM engine or a callable that loads one (None: the framing engine). Tables go
    to `echo` line by line, and with `report` to a markdown file (never overwritten unless
    `force`)."""
    from ..perception import BACKENDS
    from ..perception.given import CocoKeypoints, load_keypoints
    from ..pipeline import Pipeline, people_source
    from .tsc import load_tsc, score_tsc

    if not keypoints and not tsc:
        raise ShotCropError("bench needs --keypoints COCO.json (shot validity) and/or --tsc FILE")
    img_dir = Path(images_dir)
    if not img_dir.is_dir():
        raise ShotCropError(f"--images {img_dir} is not a folder of photos")
    coco = load_keypoints(keypoints) if keypoints else None
    if coco is not None and not isinstance(coco, CocoKeypoints):
        raise ShotCropError(f"{keypoints}: bench needs a COCO person_keypoints file "
                            "(human keypoints matched by file name)")
    tsc_data = load_tsc(tsc) if tsc else None
    if report and Path(report).exists() and not force:  # before any model loads
        raise ShotCropError(f"report {report} already exists; pass --force to overwrite "
                            "it, or choose another --report path")
    names: list[str] = []
    if coco is not None:
        names += coco.names
    if tsc_data is not None:
        names += [Path(s.image).name for s in tsc_data.samples if Path(s.image).name not in names]
    images = [img_dir / n for n in names if (img_dir / n).is_file()]
    missing = [n for n in names if not (img_dir / n).is_file()]
    if not images:
        raise ShotCropError(f"none of the {len(names)} images named in the annotations is in "
                            f"{img_dir}")
    # With a pose model named, bench scores that model: the human keypoints are the ground
    # truth, not a landmark source.
    estimated = perception in BACKENDS
    source = people_source(perception, None if estimated else coco, device)
    if callable(engine) and not hasattr(engine, "propose"):
        engine = engine()
    pipe = Pipeline(source, framing or FramingOptions(), engine)
    run = compose_all(pipe, images)
    preds, skipped = run.preds, run.skipped
    sections: list[tuple[str, str]] = []
    src = source.name
    made_by = "the framing engine" if engine is None else engine_name
    echo(f"shotcrop bench: {len(images)} photos from {img_dir}, landmarks from {src}, "
         f"shots from {made_by}")

    if coco is not None:
        res, pcks = score_run(run, coco, images, with_pck=estimated)
        head, rows = res.table()
        echo("\nShot validity against human keypoints (shot grammar)")
        echo(format_table(head, rows))
        if estimated and pcks:
            line = (f"PCK@0.1 of the main subject: {np.mean(pcks):.3f} over {len(pcks)} photos "
                    f"(a subject the model missed counts 0)")
            echo(line)
            sections.append(("Landmarks", line))
        fail_lines = "\n".join(f"- {img}: " + "; ".join(f"{k}: {', '.join(v)}"
                                                          for k, v in f.items())
                                for img, f in res.failures)
        sections.append(("Shot validity against human keypoints",
                         f"{res.scored} photos, landmarks from {src}.\n\n"
                         + markdown_table(head, rows)
                         + (f"\n\nFailures:\n\n{fail_lines}" if fail_lines else "")))
    padding = padding_table(preds)
    if padding is not None:
        echo("\nShots past the photo (beyond_photo): share of each crop that is padding")
        echo(format_table(*padding))
        sections.append(("Shots past the photo", markdown_table(*padding)))
    if tsc_data is not None:
        result = score_tsc(preds, tsc_data)
        head, rows = result.table()
        echo(f"\nTSC: IoU and BDE against expert boxes ({len(result.rows)}/{result.total} scored)")
        echo(format_table(head, rows))
        for img, why in result.errors:
            echo(f"  not scored: {img}: {why}")
        sections.append(("TSC IoU / BDE", markdown_table(head, rows)))
    if run.seconds:
        ms = 1000 * sum(run.seconds) / len(run.seconds)
        echo(f"{engine_kind if engine is not None else 'framing'}: {ms:.2f} ms per photo "
             f"(mean of {len(run.seconds)})")
    if engine is not None:
        line = (f"{len(run.fallbacks)} of {len(preds)} photo(s) fell back to the framing engine "
                "(the model's answer was unusable twice)")
        echo(line + (f": {', '.join(run.fallbacks[:10])}" if run.fallbacks else ""))
        sections.insert(0, ("Engine", f"Shots from {made_by}; {line}."))
    for name, why in skipped:
        echo(f"  skipped {name}: {why}")
    if missing:
        echo(f"  {len(missing)} annotated image(s) not found in {img_dir}")
    if report:
        write_report(report, "ShotCrop benchmark", sections, force=force)
        echo(f"report written to {report}")
    return 0
