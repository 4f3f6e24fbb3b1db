"""Top-down pose from the Hugging Face Hub: RT-DETR person boxes, then ViTPose COCO-17 keypoints.

torch and transformers are imported inside functions only, so importing this module (and
`shotcrop_core`) stays cheap. Weights come from `huggingface_hub.snapshot_download`, which itself
honours HF_HUB_OFFLINE / HF_HOME / HF_HUB_CACHE / HF_ENDPOINT; only safetensors are ever loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np

from ..boxmath import nms
from ..errors import ShotCropError
from ..keypoints import Person
from ..model_files import as_rgb, check_weights, pick_device, pick_model_dtype, resolve_snapshot
from ..models import DEFAULT_PERSON_DETECTOR, DEFAULT_POSE_MODEL

#: What to fetch from a repo: configs, processor files, safetensors weights. Never pickles.
ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.txt"]
#: RT-DETR is NMS-free by design but can still emit near-duplicate person boxes.
NMS_IOU = 0.7
#: Boxes thinner than this (source pixels) give a degenerate ViTPose crop.
MIN_BOX_SIDE = 2.0


def resolve_model_dir(ref: str, *, revision: str | None = None, cache_dir: str | os.PathLike | None = None) -> Path:
    """A local folder holding `ref`: the folder itself, or its Hub snapshot (downloaded if needed)."""
    folder = resolve_snapshot(ref, revision, cache_dir, allow_patterns=ALLOW_PATTERNS,
                              alternative=", or skip pose estimation by passing keypoints with "
                                          "`--keypoints FILE`")
    check_weights(folder, ref)
    return folder


class HubPoseEstimator:
    """RT-DETR person detector + ViTPose keypoints, each a Hub repo id or a local folder.

    `revision` applies to both repos (a branch or tag), or is a (detector, pose) pair, e.g. two
    commit hashes; local folders ignore it. `score_threshold` is on the detector's person score.
    """

    name = "vitpose"

    def __init__(
        self,
        detector: str = DEFAULT_PERSON_DETECTOR,
        pose_model: str = DEFAULT_POSE_MODEL,
        device: Any = "auto",
        dtype: Any = "auto",
        revision: str | tuple[str | None, str | None] | None = None,
        cache_dir: str | os.PathLike | None = None,
        score_threshold: float = 0.5,
        max_people: int = 20,
    ) -> None:
        self.detector = str(detector)
        self.pose_model = str(pose_model)
        self.device = device
        self.dtype = dtype
        self.revision = revision
        self.cache_dir = cache_dir
        self.score_threshold = float(score_threshold)
        self.max_people = int(max_people)
        if self.max_people < 1:
            raise ShotCropError(f"max_people must be at least 1, got {max_people}")
        self._loaded = False

    def to(self, device) -> "HubPoseEstimator":
        """Move the loaded models (e.g. to "cpu" to free GPU memory between runs)."""
        if self._loaded:
            import torch

            self._device = torch.device(device)
            self._det.to(self._device)
            self._pose.to(self._device)
        return self

    def load(self) -> "HubPoseEstimator":
        """Resolve, download if needed, and load both models (idempotent)."""
        if self._loaded:
            return self
        # Resolve both first: a missing pose model is reported before any slow weight loading.
        revs = self.revision if isinstance(self.revision, (tuple, list)) else (self.revision,) * 2
        det_dir = resolve_model_dir(self.detector, revision=revs[0], cache_dir=self.cache_dir)
        pose_dir = resolve_model_dir(self.pose_model, revision=revs[1], cache_dir=self.cache_dir)
        try:
            import scipy  # noqa: F401  (VitPoseImageProcessor needs it for its affine crops)
        except ImportError as e:
            raise ShotCropError("The ViTPose backend needs the scipy package (one of ShotCrop's "
                                "requirements), missing from this Python environment: install "
                                "it there") from e
        from transformers import (RTDetrForObjectDetection, RTDetrImageProcessor,
                                  VitPoseForPoseEstimation, VitPoseImageProcessor)

        self._device = pick_device(self.device)
        self._dtype = pick_model_dtype(self.dtype, self._device)
        try:
            # dtype= exists in transformers >= 4.56 and 5.x; trust_remote_code stays False (default).
            self._det = RTDetrForObjectDetection.from_pretrained(
                det_dir, use_safetensors=True, dtype=self._dtype).to(self._device).train(False)
            self._det_proc = RTDetrImageProcessor.from_pretrained(det_dir)
        except (OSError, ValueError, KeyError) as e:
            raise ShotCropError(f"Could not load '{self.detector}' as an RT-DETR detector: {e}") from e
        try:
            self._pose = VitPoseForPoseEstimation.from_pretrained(
                pose_dir, use_safetensors=True, dtype=self._dtype).to(self._device).train(False)
            self._pose_proc = VitPoseImageProcessor.from_pretrained(pose_dir)
        except (OSError, ValueError, KeyError) as e:
            raise ShotCropError(f"Could not load '{self.pose_model}' as a ViTPose model: {e}") from e
        if self._pose.config.num_labels != 17:
            raise ShotCropError(f"'{self.pose_model}' predicts {self._pose.config.num_labels} keypoints; "
                                "ShotCrop needs a COCO-17 body model.")
        labels = {int(k): str(v).strip().lower() for k, v in (self._det.config.id2label or {}).items()}
        # COCO checkpoints name class 0 "person"; fall back to 0 for configs with generic labels.
        self._person_id = next((k for k, v in labels.items() if v == "person"), 0)
        # ViTPose++ (MoE) needs an expert per sample; index 0 is the COCO head in those checkpoints.
        self._num_experts = int(getattr(self._pose.config.backbone_config, "num_experts", 1) or 1)
        self._loaded = True
        return self

    def estimate(self, image) -> list[Person]:
        """People in one upright RGB image, highest detector score first."""
        return self.estimate_batch([image])[0]

    def estimate_batch(self, images: Sequence) -> list[list[Person]]:
        """`estimate` for several images: one detector call, one ViTPose call for all boxes."""
        self.load()
        imgs = [as_rgb(im) for im in images]
        if not imgs:
            return []
        import torch

        with torch.inference_mode():
            dets = self._detect(imgs)
            kps = self._keypoints(imgs, [b for b, _ in dets])
        return [[Person(k, tuple(float(v) for v in box), float(s)) for box, s, k in zip(b, sc, kp)]
                for (b, sc), kp in zip(dets, kps)]

    def _detect(self, imgs: list) -> list[tuple[np.ndarray, np.ndarray]]:
        pixel_values = self._det_proc(images=imgs, return_tensors="pt")["pixel_values"]
        out = self._det(pixel_values=pixel_values.to(self._device, self._dtype))
        # Post-process in fp32: fp16 boxes lose pixels on large photos.
        out = SimpleNamespace(logits=out.logits.detach().float(), pred_boxes=out.pred_boxes.detach().float())
        results = self._det_proc.post_process_object_detection(
            out, threshold=self.score_threshold, target_sizes=[(im.height, im.width) for im in imgs],
            use_focal_loss=bool(getattr(self._det.config, "use_focal_loss", True)))
        dets = []
        for im, r in zip(imgs, results):
            person = (r["labels"] == self._person_id).cpu().numpy()
            boxes = r["boxes"].cpu().numpy().astype(np.float64)[person]
            scores = r["scores"].cpu().numpy().astype(np.float64)[person]
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, im.width)
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, im.height)
            ok = np.isfinite(boxes).all(1) & np.isfinite(scores)
            ok &= (boxes[:, 2] - boxes[:, 0] >= MIN_BOX_SIDE) & (boxes[:, 3] - boxes[:, 1] >= MIN_BOX_SIDE)
            boxes, scores = boxes[ok], scores[ok]
            keep = nms(boxes, scores, NMS_IOU)[: self.max_people]
            dets.append((boxes[keep], scores[keep]))
        return dets

    def _keypoints(self, imgs: list, boxes: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        kps = [np.zeros((0, 17, 3)) for _ in imgs]
        todo = [i for i, b in enumerate(boxes) if len(b)]
        if not todo:
            return kps
        # ViTPose takes COCO-format boxes (x, y, w, h), one list per image.
        coco = [[[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in boxes[i].tolist()] for i in todo]
        pixel_values = self._pose_proc(images=[imgs[i] for i in todo], boxes=coco,
                                       return_tensors="pt")["pixel_values"]
        pixel_values = pixel_values.to(self._device, self._dtype)
        extra = {}
        if self._num_experts > 1:
            extra["dataset_index"] = torch.zeros(len(pixel_values), dtype=torch.long, device=self._device)
        heatmaps = self._pose(pixel_values=pixel_values, **extra).heatmaps.detach().float()
        results = self._pose_proc.post_process_pose_estimation(SimpleNamespace(heatmaps=heatmaps), boxes=coco)
        for i, people in zip(todo, results):
            kps[i] = np.stack([np.concatenate([p["keypoints"].cpu().numpy().reshape(17, 2),
                                               p["scores"].cpu().numpy().reshape(17, 1)], axis=1)
                               for p in people]).astype(np.float64)
        return kps


__all__ = ["HubPoseEstimator", "resolve_model_dir", "ALLOW_PATTERNS"]
