"""The default built-in perception: people from NanoDet, landmarks from MoveNet Thunder.

A body detector needs no face, so it finds people whose head is out of the photo, riders and
people down to about 1% of the photo; MoveNet (trained on COCO, like the benchmark's labels)
then reads each person's 17 keypoints top-down. Both networks ship in the package
(weights/NOTICE_human_models) and run offline on CPU or CUDA. People too small to matter to the
framing (shorter than `LANDMARK_SHARE` of the tallest) keep their detector box with no
landmarks: the framing still sees where they stand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..keypoints import Person
from . import movenet as M
from . import nanodet as N
from .devices import torch_device

#: Landmarks for people at least this share of the tallest person's height (the bystander
#: rule's threshold is half the subject's height: every such face gets its keypoints).
LANDMARK_SHARE = 0.4
#: Detections from this score are surely people (the share above is of their tallest).
CONFIDENT = 0.4


class TopDownEstimator:
    """COCO-17 people: NanoDet boxes, MoveNet Thunder landmarks. `estimate(image)` ->
    list[Person]; `estimate_batch(images)` runs each network once per batch."""

    name = "movenet"

    def __init__(self, device: Any = "auto", max_people: int = 6,
                 min_score: float = N.MIN_SCORE) -> None:
        self.device = device
        self.max_people = int(max_people)
        self.min_score = float(min_score)
        self._nets: dict | None = None

    def load(self) -> "TopDownEstimator":
        if self._nets is None:
            from .tf_graph import load_graph

            self._dev = torch_device(self.device)
            det = load_graph("nanodet", self._dev, keep=N.HEAD_NODES)
            det.resize_by_ratio((1, 3, N.SIZE, N.SIZE))
            self._nets = {"nanodet": det, "movenet": load_graph("movenet_thunder", self._dev,
                                                                keep=M.HEADS)}
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
        arrays = [np.asarray(im) for im in images]
        shapes = [N.input_shape(a.shape[1], a.shape[0]) for a in arrays]
        out: list[list[N.Detection]] = [[] for _ in arrays]
        for shape in dict.fromkeys(s[:2] for s in shapes):
            idx = [i for i, s in enumerate(shapes) if s[:2] == shape]
            x = torch.from_numpy(np.stack([N.prepare(arrays[i], shapes[i]) for i in idx]))
            with torch.inference_mode():
                heads = [h.float().cpu().numpy()
                         for h in self._nets["nanodet"](x.to(self._dev), list(N.HEAD_NODES))]
            for k, i in enumerate(idx):
                boxes, scores = N.decode([h[k] for h in heads[0::2]], [h[k] for h in heads[1::2]],
                                         self.min_score)
                H, W = arrays[i].shape[:2]
                out[i] = N.detections(boxes / shapes[i][2], scores, W, H)
        return out

    def landmarks(self, pairs: list[tuple[Any, N.Detection]]) -> list[np.ndarray]:
        """MoveNet's 17 (y, x, score) in each detection's square, one backbone batch."""
        import torch

        if not pairs:
            return []
        net = self._nets["movenet"]
        x = np.concatenate([M.crops(im, [M.crop_square(d.box, *im.size)]) for im, d in pairs])
        with torch.inference_mode():
            heads = net.run({M.BATCH_INPUT: torch.from_numpy(x).to(self._dev)}, list(M.HEADS))
            return [net.run({h: v[k:k + 1] for h, v in zip(M.HEADS, heads)}, net.outputs)[0]
                    .float().cpu().numpy().reshape(17, 3) for k in range(len(pairs))]

    def estimate_batch(self, images: list) -> list[list[Person]]:
        images = [im.convert("RGB") if im.mode != "RGB" else im for im in images]
        found = self.detect(images)
        pairs, owner = [], []
        for i, (im, dets) in enumerate(zip(images, found)):
            for d in self._worth_landmarks(dets):
                pairs.append((im, d))
                owner.append(i)
        marks = self.landmarks(pairs)
        people: list[list[Person]] = [[] for _ in images]
        with_marks = {(i, id(d)) for i, (_, d) in zip(owner, pairs)}
        for i, (im, d), yxs in zip(owner, pairs, marks):
            people[i].append(M.to_person(yxs, M.crop_square(d.box, *im.size), d.box, d.score))
        for i, dets in enumerate(found):  # the rest: where they stand, no landmarks
            people[i] += [Person(np.zeros((17, 3)), d.box, d.score)
                          for d in dets if (i, id(d)) not in with_marks]
        return people

    def estimate(self, image) -> list[Person]:
        return self.estimate_batch([image])[0]

    def _worth_landmarks(self, dets: list[N.Detection]) -> list[N.Detection]:
        """The people whose joints the framing needs: at least LANDMARK_SHARE of the tallest
        confident person's height (a tall false box must not starve the real people), the most
        confident first, at most max_people."""
        if not dets:
            return []
        sure = [d for d in dets if d.score >= CONFIDENT] or dets
        tallest = max(d.box[3] - d.box[1] for d in sure)
        big = [d for d in dets if d.box[3] - d.box[1] >= LANDMARK_SHARE * tallest]
        return sorted(big, key=lambda d: -d.score)[: self.max_people]


__all__ = ["CONFIDENT", "LANDMARK_SHARE", "TopDownEstimator"]
