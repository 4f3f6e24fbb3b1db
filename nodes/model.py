"""Load ShotCrop: picks the engine and where it runs; the weights load lazily, on first use.

The node returns a small `ShotCropModel` handle. Models live in shared slots (one per model,
device and dtype) that are only weakly cached here: the handle sitting in ComfyUI's node-output
cache keeps a slot alive, so when ComfyUI drops that cache (/free, workflow change) the memory
goes too, just as for its own checkpoints. The VLM is wrapped in a ModelPatcher and loaded with
load_models_gpu, so "unload models" and the VRAM manager can move it off the GPU.
"""

from __future__ import annotations

import logging
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import folder_paths
from comfy_api.latest import io

from ..shotcrop_core import ShotCropError
from ..shotcrop_core.model_options import ATTENTIONS, DTYPES, QUANTIZATIONS
from ..shotcrop_core.models import KNOWN_VLMS
from .types import CATEGORY, ShotCropModel, newer_schema_fields, user_errors

log = logging.getLogger("shotcrop")

MOVENET = "framing: NanoDet + MoveNet (built in, no download)"
BLAZEPOSE = "framing: BlazePose (built in, no download)"
VITPOSE = "framing: ViTPose (Hub download)"
FRAMING_BACKENDS = {MOVENET: "movenet", BLAZEPOSE: "blazepose", VITPOSE: "vitpose"}
VLM_PREFIX = "vlm: "
KEEP = ("keep", "offload to CPU", "unload")
NODE = "Load ShotCrop"
#: Words ComfyUI's node search (0.11+) also finds this node by.
SEARCH_ALIASES = ["shotcrop", "shot model", "framing model", "pose model", "movenet", "nanodet",
                  "blazepose", "vitpose",
                  "vlm", "qwen vl", "crop model"]


# -- model folders -------------------------------------------------------------------------------
def register_folders() -> None:
    """models/LLM/ShotCrop by default; extra_model_paths.yaml can add more under `LLM` (we look
    in <each>/ShotCrop) or under `shotcrop` (used as is)."""
    llm = os.path.join(folder_paths.models_dir, "LLM")
    folder_paths.add_model_folder_path("LLM", llm)
    folder_paths.add_model_folder_path("shotcrop", os.path.join(llm, "ShotCrop"))


def model_roots() -> list[Path]:
    def paths(key: str) -> list[str]:
        try:
            return folder_paths.get_folder_paths(key)
        except KeyError:
            return []

    roots = [Path(p) / "ShotCrop" for p in paths("LLM")] + [Path(p) for p in paths("shotcrop")]
    return list(dict.fromkeys(roots))


def local_models() -> list[str]:
    """Model folders (holding a config.json) one or two levels down, e.g. `Qwen3-VL-4B-Instruct`
    or `Qwen/Qwen3-VL-4B-Instruct` (the Hub's org/name layout)."""
    found: list[str] = []
    for root in model_roots():
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if (child / "config.json").is_file():
                found.append(child.name)
            elif child.is_dir():
                found += [f"{child.name}/{g.name}" for g in sorted(child.iterdir())
                          if (g / "config.json").is_file()]
    return list(dict.fromkeys(found))


def backend_options() -> list[str]:
    vlms = list(dict.fromkeys([*KNOWN_VLMS, *local_models()]))
    return [MOVENET, BLAZEPOSE, VITPOSE] + [VLM_PREFIX + v for v in vlms]


def device_options() -> list[str]:
    import torch

    opts = ["auto", "cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        opts.append("mps")
    return opts


def _local_ref(name: str) -> str:
    """A Hub id whose folder the user already placed (as `name` or its last part) is used from
    disk: manually placed models must never be downloaded again."""
    for root in model_roots():
        for cand in (name, name.split("/")[-1]):
            if (root / cand / "config.json").is_file():
                return cand
    return name


# -- shared model slots -------------------------------------------------------------------------
_POSE: "weakref.WeakValueDictionary[tuple, Any]" = weakref.WeakValueDictionary()
_VLM: "weakref.WeakValueDictionary[tuple, _VLMSlot]" = weakref.WeakValueDictionary()


def _torch_device(device: str):
    import torch

    if device == "auto":
        import comfy.model_management as mm

        return mm.get_torch_device()  # honours --cpu, --directml, --gpu-only ...
    return torch.device(device)


def _holder_class():
    import torch

    class VLMHolder(torch.nn.Module):
        """ModelPatcher sets `model.device`, a read-only property on transformers models: hold
        the model in a plain module that has a writable one."""

        def __init__(self, model) -> None:
            super().__init__()
            self.vlm = model
            self.device = model.device

    return VLMHolder


class _VLMSlot:
    """One loaded VLM shared by every handle with the same (model, device, dtype, ...)."""

    def __init__(self, loaded, patcher) -> None:
        self.loaded, self.patcher = loaded, patcher

    def ready(self):
        if self.patcher is not None:
            import comfy.model_management as mm

            # Full load: transformers modules cannot run half on the GPU (no lowvram casting).
            mm.load_models_gpu([self.patcher], force_full_load=True)
            self.loaded.device = self.patcher.load_device
        return self.loaded

    def offload(self) -> None:
        if self.patcher is None:
            return
        import comfy.model_management as mm

        for i, lm in enumerate(mm.current_loaded_models):
            if lm.model is self.patcher:  # the same steps as ComfyUI's own free_memory
                mm.current_loaded_models.pop(i).model_unload()
                break
        self.loaded.device = self.patcher.offload_device


def _load_vlm_slot(ref: str, device: str, dtype: str, attention: str,
                   quantization: str | None) -> _VLMSlot:
    import comfy.model_management as mm
    import comfy.model_patcher

    from ..shotcrop_core.vlm.loading import load_vlm, pick_vlm_dtype

    target = _torch_device(device)
    dt = pick_vlm_dtype(dtype, target)  # the dtype for where it runs, not for where it loads
    roots = model_roots()
    if quantization:
        # bitsandbytes places weights at load time and they cannot move: no ModelPatcher.
        return _VLMSlot(load_vlm(ref, target, dt, attention, quantization, allowed_roots=roots),
                        None)
    offload = mm.unet_offload_device()
    loaded = load_vlm(ref, offload, dt, attention, None, allowed_roots=roots)
    patcher = comfy.model_patcher.ModelPatcher(_holder_class()(loaded.model), load_device=target,
                                               offload_device=offload)
    return _VLMSlot(loaded, patcher)


@dataclass(eq=False)
class ShotCropModelHandle:
    """What SHOTCROP_MODEL carries: the choices made in Load ShotCrop, and the slots in use."""

    backend: str  # "movenet" | "blazepose" | "vitpose" | "vlm"
    model: str | None = None  # VLM name (a Hub id or a folder inside the model roots)
    device: str = "auto"
    dtype: str = "auto"
    attention: str = "sdpa"
    quantization: str | None = None
    keep_loaded: str = "keep"
    _pose: Any = field(default=None, repr=False)
    _vlm: _VLMSlot | None = field(default=None, repr=False)

    @property
    def is_vlm(self) -> bool:
        return self.backend == "vlm"

    def pose(self):
        """The pose estimator: the chosen one, or the built-in default for the VLM's landmarks."""
        if self._pose is None:
            from ..shotcrop_core.perception import DEFAULT_BACKEND

            name = DEFAULT_BACKEND if self.is_vlm else self.backend
            dev = str(_torch_device(self.device))
            key = (name, dev)
            est = _POSE.get(key)
            if est is None:
                from ..shotcrop_core.perception import get_estimator

                est = get_estimator(name, device=dev)
                getattr(est, "load", lambda: None)()  # a missing model fails here, once
                _POSE[key] = est
            self._pose = est
        # Back on its device if an "offload to CPU" run (this handle's or another's) moved it.
        getattr(self._pose, "to", lambda d: None)(str(_torch_device(self.device)))
        return self._pose

    def vlm(self):
        """The loaded VLM (shotcrop_core LoadedVLM), on its device and ready for generate."""
        if self._vlm is None:
            ref = _local_ref(self.model or "")
            key = (ref, self.device, self.dtype, self.attention, self.quantization)
            slot = _VLM.get(key)
            if slot is None:
                log.info("ShotCrop: loading %s", ref)
                slot = _load_vlm_slot(ref, self.device, self.dtype, self.attention,
                                      self.quantization)
                _VLM[key] = slot
            self._vlm = slot
        return self._vlm.ready()

    def after_run(self) -> None:
        """Apply keep_loaded once a Compose run is over."""
        if self.keep_loaded == "keep":
            return
        if self._vlm is not None:
            self._vlm.offload()
        if self._pose is not None:  # pose models are plain torch modules: move them ourselves
            getattr(self._pose, "to", lambda d: None)("cpu")
        if self.keep_loaded == "unload":
            # Drop our references: the slot dies with the last handle that uses it.
            self._vlm = None
            self._pose = None


class LoadShotCrop(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        register_folders()
        return io.Schema(
            node_id="ShotCropLoadModel",
            **newer_schema_fields(search_aliases=SEARCH_ALIASES),  # newer ComfyUI only
            display_name=NODE,
            category=CATEGORY,
            description="Choose how ShotCrop frames photos: the built-in pose model (fast, no "
                        "download) or a vision-language model that also picks the story and "
                        "writes descriptions. Nothing loads until Triple-Shot Compose runs.",
            inputs=[
                io.Combo.Input("backend", options=backend_options(), default=MOVENET,
                               tooltip="framing: find people with a pose model and apply the shot "
                                       "grammar. vlm: a Qwen VL model proposes and describes the "
                                       "shots, the grammar repairs them. Local models: put a "
                                       "folder in models/LLM/ShotCrop/."),
                io.Combo.Input("device", options=device_options(), default="auto",
                               tooltip="Where the model runs; auto = ComfyUI's device."),
                io.Combo.Input("dtype", options=list(DTYPES), default="auto",
                               tooltip="VLM weight precision; auto = bf16/fp16 on GPU, fp32 on "
                                       "CPU. Pose models ignore it."),
                io.Combo.Input("attention", options=list(ATTENTIONS), default="sdpa",
                               tooltip="VLM attention kernel; flash_attention_2 falls back to "
                                       "sdpa when it is not installed."),
                io.Combo.Input("quantization", options=["none", *QUANTIZATIONS], default="none",
                               tooltip="VLM 8/4-bit weights (bitsandbytes, CUDA only). A "
                                       "quantized model stays on its GPU: ComfyUI cannot "
                                       "offload it."),
                io.Combo.Input("keep_loaded", options=list(KEEP), default="keep",
                               tooltip="After each run: keep the model on its device, offload "
                                       "it to CPU RAM, or unload it entirely."),
            ],
            outputs=[ShotCropModel.Output(display_name="model",
                                          tooltip="Connect to Triple-Shot Compose.")],
        )

    @classmethod
    def execute(cls, backend: str, device: str, dtype: str, attention: str, quantization: str,
                keep_loaded: str) -> io.NodeOutput:
        with user_errors(NODE):
            if backend in FRAMING_BACKENDS:
                handle = ShotCropModelHandle(FRAMING_BACKENDS[backend], device=device,
                                             keep_loaded=keep_loaded)
            elif backend.startswith(VLM_PREFIX):
                handle = ShotCropModelHandle("vlm", backend[len(VLM_PREFIX):], device, dtype,
                                             attention,
                                             None if quantization == "none" else quantization,
                                             keep_loaded)
            else:
                raise ShotCropError(f"unknown backend {backend!r}: pick one in the menu")
        return io.NodeOutput(handle)
