"""LoRA (peft) on a Qwen VL checkpoint: which layers get adapters, and how checkpoints are saved.

Adapters go on the language model's linear layers only. Module names are the same in Qwen3-VL and
Qwen2.5-VL under transformers 4.57 and 5.x: ``model.language_model.layers.N.{self_attn,mlp}.*``
for the text decoder, ``model.visual.*`` for the vision tower (``model.visual.merger`` and, in
Qwen3-VL, ``model.visual.deepstack_merger_list.N`` project it into the text space). Matching by
short name alone ("gate_proj") would also hit Qwen2.5-VL's vision MLPs, hence the regex on the
full name. The vision tower is frozen by default; ``train_merger`` adds adapters to the merger(s)
only, ``freeze_vision=False`` to the whole tower.

A saved checkpoint is ``out_dir/adapter`` (peft, safetensors) and ``out_dir/merged`` (the adapter
merged into the base weights, safetensors, plus the processor files): a plain model folder that
``vlm.loading.load_vlm`` and ``shotcrop compose --engine vlm --model out_dir/merged`` load.
torch / peft are imported inside functions only.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ShotCropError

log = logging.getLogger("shotcrop")

#: The text decoder's projections (attention and MLP), as in Qwen's own LoRA recipes.
TEXT_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: Where the text decoder and the vision tower live in both families (see the module docstring).
TEXT_PREFIX = r"(?:.*\.)?language_model\.layers\.\d+\."
VISION_PREFIX = r"(?:.*\.)?visual\."
MERGER_PREFIX = r"(?:.*\.)?visual\.(?:merger|deepstack_merger_list\.\d+)\."


@dataclass
class LoraSettings:
    """LoRA hyper-parameters and which parts of the model are adapted."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    #: Short names of the text decoder's linear layers that get adapters.
    target_modules: tuple[str, ...] = TEXT_PROJECTIONS
    #: True: no adapter anywhere in the vision tower (the default; the merger follows train_merger).
    freeze_vision: bool = True
    #: Adapters on the vision-to-text merger(s) too, with the rest of the tower frozen.
    train_merger: bool = False
    #: Extra peft.LoraConfig arguments (e.g. use_rslora, init_lora_weights), passed through as is.
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if self.r < 1 or self.alpha <= 0:
            raise ShotCropError(f"lora.r must be >= 1 and lora.alpha > 0 (got r={self.r}, "
                                f"alpha={self.alpha})")
        if not 0.0 <= self.dropout < 1.0:
            raise ShotCropError(f"lora.dropout must be in [0, 1) (got {self.dropout})")
        bad = [m for m in self.target_modules if not re.fullmatch(r"[A-Za-z0-9_]+", str(m))]
        if not self.target_modules or bad:
            raise ShotCropError(f"lora.target_modules must be layer names like q_proj, v_proj "
                                f"(got {list(self.target_modules)})")

    def target_regex(self) -> str:
        """One regex over full module names (peft full-matches a string target_modules)."""
        names = "|".join(re.escape(m) for m in self.target_modules)
        parts = [rf"{TEXT_PREFIX}(?:self_attn|mlp)\.(?:{names})"]
        if not self.freeze_vision:  # the tower's blocks (not the conv patch embedding)
            parts.append(rf"{VISION_PREFIX}blocks\.\d+\.(?:attn\.(?:qkv|proj)|"
                         r"mlp\.(?:linear_fc\d|gate_proj|up_proj|down_proj))")
        if self.train_merger or not self.freeze_vision:
            parts.append(rf"{MERGER_PREFIX}(?:linear_fc\d|mlp\.[02])")  # mlp.1 is a GELU
        return "|".join(f"(?:{p})" for p in parts)

    def peft_config(self) -> Any:
        from peft import LoraConfig

        try:
            return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                              target_modules=self.target_regex(), bias="none",
                              task_type="CAUSAL_LM", **self.extra)
        except (TypeError, ValueError) as e:
            raise ShotCropError(f"Bad LoRA settings ({e}); check the lora section of the config.") from e


def require_training_packages() -> None:
    """One clear message when the optional training dependencies are missing."""
    import importlib.util

    missing = [m for m in ("torch", "trl", "peft", "accelerate", "datasets")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise ShotCropError(f"Training needs {', '.join(missing)}: install ShotCrop's train extra, "
                            "shotcrop[train] (and a torch build for your machine).")


def prepare_model(base: str | os.PathLike, lora: LoraSettings | None = None, device: Any = "auto",
                  dtype: Any = "auto", *, adapter: str | os.PathLike | None = None,
                  attention: str = "sdpa", revision: str | None = None,
                  seed: int | None = None) -> tuple[Any, Any, str]:
    """(peft model, processor, family): the base through `vlm.loading.load_vlm`, then LoRA.

    With `adapter` (a folder written by `save_checkpoint`, its ``adapter`` sub-folder or any
    peft LoRA folder), that adapter is loaded trainable instead of a fresh one, to continue
    training; `lora` is then ignored (the adapter's own config holds). `seed` seeds the new
    adapter's random initialisation (a run is then reproducible).
    """
    require_training_packages()
    from peft import PeftModel, get_peft_model

    from ..vlm.loading import load_vlm, resolve_vlm

    lora = lora or LoraSettings()
    lora.check()
    folder = adapter_folder(adapter) if adapter is not None else None
    path = resolve_vlm(base, revision=revision)
    if folder is not None:
        check_adapter_base(folder, base, path)  # before the weights load
    # The absolute folder: peft records it in adapter_config.json, so the adapter alone names
    # its base from any working directory (evaluation of adapter-only runs reads it).
    loaded = load_vlm(path.resolve(), device=device, dtype=dtype, attention=attention)
    model = loaded.model
    if folder is not None:
        try:
            model = PeftModel.from_pretrained(model, str(folder), is_trainable=True)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise ShotCropError(f"Cannot load the LoRA adapter {folder} onto {base}: {e}. The adapter "
                                "must have been trained on this base model.") from e
    else:
        if seed is not None:
            from transformers import set_seed

            set_seed(seed)  # LoRA A matrices are drawn here, before any trainer seeds
        model = get_peft_model(model, lora.peft_config())
    trainable, total = _count(model)
    if trainable == 0:
        raise ShotCropError(f"No layer of {base} matched the LoRA targets {list(lora.target_modules)}: "
                            "is this a Qwen3-VL / Qwen2.5-VL model?")
    log.info("LoRA: %s trainable of %s parameters (%.2f%%)", f"{trainable:,}", f"{total:,}",
             100 * trainable / total)
    return model, loaded.processor, loaded.family


def adapter_folder(path: str | os.PathLike) -> Path:
    """The folder holding adapter_config.json: `path` itself or its ``adapter`` sub-folder."""
    path = Path(path)
    for folder in (path, path / "adapter"):
        if (folder / "adapter_config.json").is_file():
            if not (folder / "adapter_model.safetensors").is_file():
                raise ShotCropError(f"{folder} has no adapter_model.safetensors; ShotCrop loads "
                                    "safetensors adapters only.")
            return folder
    raise ShotCropError(f"No LoRA adapter in {path} (no adapter_config.json there or in "
                        f"{path / 'adapter'}); give the output folder of a training stage.")


def _count(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def trainable_names(model) -> list[str]:
    """Names of the parameters that train (for checks and logs)."""
    return [n for n, p in model.named_parameters() if p.requires_grad]


def save_checkpoint(model, processor, out_dir: str | os.PathLike, merged: bool = True) -> dict:
    """Write ``out_dir/adapter`` and, with `merged`, ``out_dir/merged``; returns their paths.

    Merging folds the adapter into the base weights in place (peft ``merge_and_unload``), so the
    model passed in must not be trained further afterwards. Only the ``default`` adapter is saved
    and merged (GRPOTrainer adds a frozen ``ref`` copy for its KL term).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    adapter_dir = out / "adapter"
    names = list(getattr(model, "peft_config", {}) or [])
    if not names:
        raise ShotCropError("save_checkpoint needs a peft model (from prepare_model)")
    keep = ["default"] if "default" in names else names[:1]
    model.save_pretrained(str(adapter_dir), selected_adapters=keep, safe_serialization=True)
    _save_processor(processor, adapter_dir)
    paths["adapter"] = adapter_dir
    if merged:
        merged_dir = out / "merged"
        if merged_dir.exists():
            shutil.rmtree(merged_dir)  # a stale shard from an older run would be loaded too
        for extra in [n for n in names if n not in keep]:
            model.delete_adapter(extra)
        model.set_adapter(keep[0])
        plain = model.merge_and_unload()
        plain.config.use_cache = True
        plain.train(False)  # inference mode (dropout off)
        plain.save_pretrained(str(merged_dir), safe_serialization=True)
        _save_processor(processor, merged_dir)
        paths["merged"] = merged_dir
    return paths


def _save_processor(processor, folder: Path) -> None:
    """The processor files, also in the per-component layout Hub repos use.

    transformers 5.x writes one processor_config.json; writing each part's own file (as the Qwen
    repos ship them) too keeps the folder readable by older transformers releases.
    """
    processor.save_pretrained(str(folder))
    cls = type(processor).__name__
    for name in ("image_processor", "video_processor", "tokenizer"):
        part = getattr(processor, name, None)
        if part is not None:
            part.processor_class = cls
            part.save_pretrained(str(folder))
    template = getattr(processor, "chat_template", None)
    if isinstance(template, str) and not (folder / "chat_template.jinja").is_file():
        (folder / "chat_template.jinja").write_text(template, encoding="utf-8")
    _drop_pickles(folder)


def _drop_pickles(folder: Path) -> None:
    # Nothing that unpickles may ship next to safetensors weights (load_vlm refuses such repos).
    for path in folder.iterdir():
        if path.suffix in (".bin", ".pt", ".pth", ".pkl"):
            path.unlink()


def _identity(ref: str | os.PathLike) -> tuple[Path | None, str | None]:
    """(absolute folder if it exists here, Hub repo id if `ref` is one or a Hub cache snapshot)."""
    from ..model_files import looks_like_path

    text = os.fspath(ref)
    path = Path(text).expanduser()
    folder = path.resolve() if path.is_dir() else None
    cached = re.search(r"models--([^/\\]+?)--([^/\\]+)[/\\]snapshots[/\\]", text)
    repo = f"{cached.group(1)}/{cached.group(2)}" if cached else None
    if repo is None and folder is None and not looks_like_path(text):
        repo = text
    return folder, repo


def check_adapter_base(adapter: str | os.PathLike, base: str | os.PathLike,
                       resolved: str | os.PathLike | None = None) -> None:
    """Refuse an adapter on another model than the one it was trained on.

    The usual slip is `model: runs/stage1/merged` with `adapter: runs/stage1`: the merged folder
    already holds stage 1's adapter, so loading it again would apply stage 1 twice. `resolved` is
    the local folder `base` resolved to (a Hub id's snapshot). Bases that cannot be compared here
    (a folder on another machine) only get a warning.
    """
    folder = adapter_folder(adapter)
    recorded = read_adapter_base(folder)
    if not recorded:
        return
    have_folder, have_repo = _identity(resolved if resolved is not None else base)
    if have_repo is None:
        have_repo = _identity(base)[1]
    want_folder, want_repo = _identity(recorded)
    if (have_folder is not None and have_folder == want_folder) or \
            (have_repo is not None and have_repo == want_repo):
        return
    fix = (f"set model: {recorded} to continue this adapter, or drop adapter: to train a fresh "
           f"adapter on {base}")
    own_merged = {(folder / "merged").resolve(), (folder.parent / "merged").resolve()}
    if want_folder is None and want_repo is None and have_folder not in own_merged:
        log.warning("The adapter %s was trained on %s, which is not on this machine: cannot check "
                    "that it matches model %s", folder, recorded, base)
        return
    twice = (" That folder already holds this adapter merged in: it would be applied twice."
             if have_folder in own_merged else "")
    raise ShotCropError(f"The LoRA adapter {folder} was trained on {recorded}, but model is "
                        f"{base}.{twice} Fix: {fix}.")


def read_adapter_base(path: str | os.PathLike) -> str | None:
    """The base model an adapter was trained on, as peft recorded it (None if unknown)."""
    try:
        config = json.loads((adapter_folder(path) / "adapter_config.json").read_text(encoding="utf-8"))
    except ValueError:
        return None
    return config.get("base_model_name_or_path")


__all__ = ["LoraSettings", "TEXT_PROJECTIONS", "adapter_folder", "check_adapter_base",
           "prepare_model", "read_adapter_base", "require_training_packages", "save_checkpoint",
           "trainable_names"]
