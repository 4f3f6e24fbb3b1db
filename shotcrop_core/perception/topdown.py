"""The default built-in perception: people from NanoDet, landmarks from MoveNet.

A body detector needs no face, so it finds people whose head is out of the photo, riders and
people down to about 1% of the photo; MoveNet (trained on COCO, like the benchmark's labels)
then reads each person's 17 keypoints top-down: MoveNet Thunder for the subject (whose joints
the grammar measures), MoveNet Lightning, a third of the cost, for the others (bystanders:
where their faces and joints are). With several people, Lightning reads everyone first and
Thunder then re-reads the `precise` most prominent by the subject choice's own measure.
The networks ship in the package (weights/NOTICE_human_models) and run offline on CPU or CUDA.
People too small to matter to the framing (shorter than `LANDMARK_SHARE` of the tallest
confident person) keep their detector box with no landmarks: the framing still sees where they
stand.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ..keypoints import Person
from ..errors import ShotCropError
from ..subject import SURE_SCORE, choose_subject, prominence
from . import movenet as M
from . import nanodet as N
from .devices import torch_device

#: Landmarks for people at least this share of the tallest person's height (the bystander
#: rule's threshold is half the subject's height: every such face gets its keypoints).
LANDMARK_SHARE = 0.4


class TopDownEstimator:
    """COCO-17 people: NanoDet boxes, MoveNet Thunder landmarks. `estimate(image)` ->
    list[Person]; `estimate_batch(images)` runs each network once per batch."""

    name = "movenet"

    def __init__(self, device: Any = "auto", max_people: int = 6,
                 min_score: float = N.MIN_SCORE, precise: int = 1) -> None:
        self.device = device
        self.max_people = int(max_people)
        self.min_score = float(min_score)
        self.precise = int(precise)
        self._nets: dict | None = None

    def load(self) -> "TopDownEstimator":
        if self._nets is None:
            from .tf_graph import load_graph

            self._dev = torch_device(self.device)
            det = load_graph("nanodet", self._dev, keep=N.HEAD_NODES)
            det.resize_by_ratio((1, 3, N.SIZE, N.SIZE))
            self._nets = {"nanodet": det}
            for kind, (stem, _) in M.NETS.items():
                self._nets[kind] = load_graph(stem, self._dev, keep=M.HEADS)
        return self

    def to(self, device) -> "TopDownEstimator":
        """Move the loaded networks (e.g. to "cpu" to free GPU memory between runs)."""
        if self._nets is not None:
            self._dev = torch_device(device)
            for net in self._nets.values():
                net.to(self._dev)
        return self

    # -- people --------------------------------------------------------------------------
    def detect(self, images: list) -> list[list[N.Detection]]:
        """Person boxes per image (NanoDet), images of one input shape batched together."""
        import torch

        self.load()
        images = [_rgb(im) for im in images]
        shapes = [N.input_shape(*im.size) for im in images]
        out: list[list[N.Detection]] = [[] for _ in images]
        for shape in dict.fromkeys(s[:2] for s in shapes):
            idx = [i for i, s in enumerate(shapes) if s[:2] == shape]
            x = torch.from_numpy(np.stack([N.prepare(images[i], shapes[i]) for i in idx]))
            with torch.inference_mode():
                heads = [h.float().cpu().numpy()
                         for h in self._nets["nanodet"](x.to(self._dev), list(N.HEAD_NODES))]
            for k, i in enumerate(idx):
                boxes, scores = N.decode([h[k] for h in heads[0::2]], [h[k] for h in heads[1::2]],
                                         self.min_score)
                out[i] = N.detections(boxes / shapes[i][2], scores, *images[i].size)
        return out

    def landmarks(self, pairs: list[tuple[Any, N.Detection]], kind: str = "thunder"
                  ) -> list[np.ndarray]:
        """MoveNet's (`kind`: thunder | lightning) 17 (y, x, score) in each detection's square,
        one backbone batch."""
        import torch

        if not pairs:
            return []
        self.load()
        net, size = self._nets[kind], M.NETS[kind][1]
        x = np.concatenate([M.crops(im, [M.crop_square(d.box, *im.size)], size)
                            for im, d in pairs])
        with torch.inference_mode():
            heads = net.run({M.BATCH_INPUT: torch.from_numpy(x).to(self._dev)}, list(M.HEADS))
            return [net.run({h: v[k:k + 1] for h, v in zip(M.HEADS, heads)}, net.outputs)[0]
                    .float().cpu().numpy().reshape(17, 3) for k in range(len(pairs))]

    #: PeopleSource passes the user's subject choice (Thunder reads that person).
    takes_subject = True

    def estimate_batch(self, images: list, subject_index: int | None = None,
                       subject_hint: str | None = None) -> list[list[Person]]:
        """People per image; `subject_index` / `subject_hint` (the framing's subject choice)
        decide who gets the precise landmarks in a photo of several."""
        images = [_rgb(im) for im in images]
        found = self.detect(images)
        jobs = [(i, d) for i, dets in enumerate(found) for d in self._worth_landmarks(dets)]
        per_photo = Counter(i for i, _ in jobs)
        # A photo with at most `precise` people: Thunder for them. With more: Lightning for all,
        # then Thunder again for the `precise` most prominent by the subject choice's own measure.
        kinds = ["thunder" if per_photo[i] <= self.precise else "lightning" for i, _ in jobs]
        marks = self._landmarks_by_kind(images, jobs, kinds)

        def person(k: int) -> Person:
            i, d = jobs[k]
            return M.to_person(marks[k], M.crop_square(d.box, *images[i].size), d.box, d.score)

        marked = {id(d) for _, d in jobs}
        rest = [[Person(np.zeros((17, 3)), d.box, d.score) for d in dets if id(d) not in marked]
                for dets in found]  # where they stand, no landmarks
        redo = []
        for i in (i for i, n in per_photo.items() if n > self.precise):
            idx = [k for k, (j, _) in enumerate(jobs) if j == i]
            everyone = [person(k) for k in idx] + rest[i]
            order = list(np.argsort(-prominence(everyone, *images[i].size), kind="stable"))
            if subject_index is not None or subject_hint:
                try:  # the user's subject first (a bad index is the framing's error to give)
                    first = choose_subject(everyone, *images[i].size, subject_index, subject_hint)
                    order = [first] + [o for o in order if o != first]
                except ShotCropError:
                    pass
            redo += [idx[o] for o in order if o < len(idx)][: self.precise]
        for k, m in zip(redo, self._landmarks_by_kind(images, [jobs[k] for k in redo],
                                                      ["thunder"] * len(redo))):
            marks[k] = m
        people: list[list[Person]] = [[] for _ in images]
        for k, (i, _) in enumerate(jobs):
            people[i].append(person(k))
        return [p + r for p, r in zip(people, rest)]

    def _landmarks_by_kind(self, images: list, jobs: list, kinds: list[str]) -> list:
        marks: list = [None] * len(jobs)
        for kind in dict.fromkeys(kinds):
            idx = [k for k, kd in enumerate(kinds) if kd == kind]
            pairs = [(images[jobs[k][0]], jobs[k][1]) for k in idx]
            for k, m in zip(idx, self.landmarks(pairs, kind)):
                marks[k] = m
        return marks

    def estimate(self, image, subject_index: int | None = None,
                 subject_hint: str | None = None) -> list[Person]:
        return self.estimate_batch([image], subject_index, subject_hint)[0]

    def _worth_landmarks(self, dets: list[N.Detection]) -> list[N.Detection]:
        """The people whose joints the framing needs: at least LANDMARK_SHARE of the tallest
        confident person's height (a tall false box must not starve the real people), the most
        confident first, at most max_people."""
        if not dets:
            return []
        sure = [d for d in dets if d.score >= SURE_SCORE] or dets
        tallest = max(d.box[3] - d.box[1] for d in sure)
        big = [d for d in dets if d.box[3] - d.box[1] >= LANDMARK_SHARE * tallest]
        return sorted(big, key=lambda d: -d.score)[: self.max_people]


def _rgb(image):
    return image if image.mode == "RGB" else image.convert("RGB")


__all__ = ["LANDMARK_SHARE", "TopDownEstimator"]
