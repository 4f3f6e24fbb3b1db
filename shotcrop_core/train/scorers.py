"""Scorers for pseudo-label candidates: CLIP crop-description similarity, an aesthetic head on CLIP
image embeddings, and a VLM judge. Every score is in [0, 1], higher is better.

Models are named by Hub id (defaults in `shotcrop_core.models`) or given as local folders/files;
only *.json / *.safetensors (and tokenizer *.txt) files are fetched or read, never pickles, and
`trust_remote_code` is never enabled. torch and transformers are imported inside functions only.
The judge's prompt lives here (not in `vlm/prompt.py`): it is a training-time prompt that the
shipped backend never sends.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any, Sequence

from ..errors import ShotCropError
# The pose loader's dtype choice (fp16 on CUDA, else fp32) and RGB conversion suit CLIP as well.
from ..model_files import (PICKLE_SUFFIXES, as_rgb, check_weights, pick_device, pick_model_dtype,
                           resolve_snapshot)
from ..models import DEFAULT_AESTHETIC_HEAD, DEFAULT_AESTHETIC_HEAD_FILE, DEFAULT_CLIP
from ..shots import SHOT_NAMES, ShotSet
from ..vlm.lenient_json import LenientJSONError, decode, find_spans

log = logging.getLogger("shotcrop")

#: What to fetch from a CLIP repo: config, processor and tokenizer files, safetensors weights.
CLIP_ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.txt"]
#: CLIPScore's weight (Hessel et al. 2021, "CLIPScore"): score = clip(W * cos, 0, 1). Matching
#: image-caption pairs have cosines of ~0.2-0.4 under CLIP, so W = 2.5 spreads them over ~0.5-1.
CLIP_SCORE_WEIGHT = 2.5
#: Output widths of the LAION improved aesthetic predictor's five Linear layers (input: the CLIP
#: embedding width, 768 for ViT-L/14). Dropout 0.2, 0.2, 0.1 follows the first three layers;
#: the "linearMSE" heads have no activations.
HEAD_WIDTHS = (1024, 128, 64, 16, 1)
_HEAD_DROPOUT = (0.2, 0.2, 0.1, 0.0, 0.0)
#: The predictor's scale: AVA-style ratings, 1 (worst) to 10 (best).
SCORE_MIN, SCORE_MAX = 1.0, 10.0

JUDGE_SYSTEM = ("You are an experienced cinematographer and photo editor. You grade crops of a "
                "photo and answer with compact JSON only.")
JUDGE_TASK = (
    "The three images above are crops of one photo, planned as an establishing / medium / "
    "close-up shot sequence around its main subject, each with a one-sentence description.\n"
    "Grade each crop from 1 (unusable) to 10 (excellent) on: framing right for its shot type "
    "(establishing: the whole subject and the setting; medium: waist-up to knee-up with the "
    "face and shoulders; close_up: head and shoulders with the whole face), no edge cutting "
    "through a knee, elbow, wrist, ankle, the chin or the eyes, balanced composition with "
    "room in the gaze direction, and how well the description matches what the crop shows.\n"
    'Answer with this JSON and nothing else: {"establishing": <1-10>, "medium": <1-10>, '
    '"close_up": <1-10>}')
#: ~25 tokens of JSON (digits are single tokens); room for a stray word or a code fence.
JUDGE_MAX_NEW_TOKENS = 64
#: Crops are shrunk to this longest side for the judge: enough to see framing and cut joints,
#: and three full-resolution crops would cost thousands of vision tokens each.
JUDGE_MAX_SIDE = 672


# -- shared helpers ------------------------------------------------------------------------------
def _pooled(out):
    # transformers 5.x returns a model output whose pooler_output is the projected embedding;
    # 4.x returns the tensor itself.
    return getattr(out, "pooler_output", out)


def to_unit(score: float) -> float:
    """A 1-10 rating mapped to [0, 1]: (s - 1) / 9, clipped."""
    return min(1.0, max(0.0, (float(score) - SCORE_MIN) / (SCORE_MAX - SCORE_MIN)))


# -- CLIP ----------------------------------------------------------------------------------------
class ClipScorer:
    """CLIP image/text embeddings and crop-description similarity (a Hub id or a folder).

    `similarity(images, texts)` pairs the i-th image with the i-th text and returns CLIPScore's
    mapping of their cosine, clip(2.5 * cos, 0, 1); an empty text scores 0 (nothing to match).
    """

    name = "clip"

    def __init__(self, ref: str | os.PathLike = DEFAULT_CLIP, device: Any = "auto",
                 dtype: Any = "auto", revision: str | None = None,
                 cache_dir: str | os.PathLike | None = None, batch_size: int = 32) -> None:
        self.ref = os.fspath(ref)
        self.device, self.dtype = device, dtype
        self.revision, self.cache_dir = revision, cache_dir
        self.batch_size = max(1, int(batch_size))
        self._model = None

    def load(self) -> "ClipScorer":
        """Resolve (download if needed) and load the model and its processor (idempotent)."""
        if self._model is not None:
            return self
        folder = resolve_snapshot(self.ref, self.revision, self.cache_dir,
                                  allow_patterns=CLIP_ALLOW_PATTERNS, what="CLIP model")
        check_weights(folder, self.ref)
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ShotCropError(f"Cannot read the CLIP config in {folder}: {e}") from e
        if config.get("model_type") != "clip":
            raise ShotCropError(
                f"'{self.ref}' is a {config.get('model_type')!r} model, not CLIP; use a CLIP "
                f"checkpoint such as {DEFAULT_CLIP} (the aesthetic head needs its ViT-L/14 "
                "embeddings).")
        from transformers import CLIPModel, CLIPProcessor

        self._device = pick_device(self.device)
        self._dtype = pick_model_dtype(self.dtype, self._device)
        try:
            model = CLIPModel.from_pretrained(folder, use_safetensors=True, dtype=self._dtype)
            processor = CLIPProcessor.from_pretrained(folder)
        except (OSError, ValueError, KeyError) as e:
            raise ShotCropError(f"Could not load '{self.ref}' as a CLIP model: {e}") from e
        self._processor = processor
        text = model.config.text_config
        self._max_tokens = min(int(getattr(processor.tokenizer, "model_max_length", 77) or 77),
                               int(text.max_position_embeddings))
        self._model = model.to(self._device).train(False)
        return self

    @property
    def dim(self) -> int:
        """Width of the (projected) embeddings."""
        self.load()
        return int(self._model.config.projection_dim)

    def image_embeddings(self, images: Sequence) -> Any:
        """L2-normalised image embeddings, float32 on the CPU, shape (N, dim)."""
        self.load()
        import torch

        parts = []
        for start in range(0, len(images), self.batch_size):
            batch = [as_rgb(im) for im in images[start:start + self.batch_size]]
            px = self._processor.image_processor(images=batch, return_tensors="pt")["pixel_values"]
            with torch.inference_mode():
                f = _pooled(self._model.get_image_features(
                    pixel_values=px.to(self._device, self._dtype)))
            parts.append(torch.nn.functional.normalize(f.float(), dim=-1).cpu())
        return torch.cat(parts) if parts else torch.zeros((0, self.dim))

    def text_embeddings(self, texts: Sequence[str]) -> Any:
        """L2-normalised text embeddings (truncated to CLIP's 77 tokens), float32 on the CPU."""
        self.load()
        import torch

        parts = []
        for start in range(0, len(texts), self.batch_size):
            enc = self._processor.tokenizer(
                [str(t) for t in texts[start:start + self.batch_size]], padding=True,
                truncation=True, max_length=self._max_tokens, return_tensors="pt")
            with torch.inference_mode():
                f = _pooled(self._model.get_text_features(
                    input_ids=enc["input_ids"].to(self._device),
                    attention_mask=enc["attention_mask"].to(self._device)))
            parts.append(torch.nn.functional.normalize(f.float(), dim=-1).cpu())
        return torch.cat(parts) if parts else torch.zeros((0, self.dim))

    def similarity(self, images: Sequence, texts: Sequence[str]) -> list[float]:
        """CLIPScore of each (image, text) pair in [0, 1]; see the class docstring."""
        if len(images) != len(texts):
            raise ShotCropError(f"similarity needs one text per image, got {len(images)} images "
                                f"and {len(texts)} texts")
        keep = [i for i, t in enumerate(texts) if str(t).strip()]
        out = [0.0] * len(images)
        if keep:
            img = self.image_embeddings([images[i] for i in keep])
            txt = self.text_embeddings([texts[i] for i in keep])
            for i, cos in zip(keep, (img * txt).sum(-1).tolist()):
                out[i] = min(1.0, max(0.0, CLIP_SCORE_WEIGHT * cos))
        return out


# -- aesthetic head --------------------------------------------------------------------------------
_HEAD_KEY = re.compile(r"^(?P<prefix>.*?)(?P<index>\d+)\.(?P<kind>weight|bias)$")


def head_layers(state: dict, source: str) -> list[tuple[Any, Any]]:
    """(weight, bias) per Linear of an aesthetic head's state dict, checked, in order.

    Accepts the original key layout (`layers.0.weight` ... `layers.7.bias`) under any common
    prefix; the widths must be the LAION predictor's (input, then 1024, 128, 64, 16, 1).
    """
    found: dict[int, dict[str, Any]] = {}
    prefixes = set()
    for key, value in state.items():
        m = _HEAD_KEY.match(key)
        if m is None:
            raise ShotCropError(f"{source}: unexpected tensor {key!r}; an aesthetic head holds "
                                "only Linear weights and biases such as 'layers.0.weight'.")
        prefixes.add(m["prefix"])
        found.setdefault(int(m["index"]), {})[m["kind"]] = value
    if len(prefixes) > 1:
        raise ShotCropError(f"{source}: tensors under several prefixes ({sorted(prefixes)}); "
                            "expected one MLP such as layers.0 ... layers.7.")
    layers = []
    for index in sorted(found):
        parts = found[index]
        w, b = parts.get("weight"), parts.get("bias")
        if w is None or b is None or w.dim() != 2 or b.dim() != 1 or b.shape[0] != w.shape[0]:
            raise ShotCropError(f"{source}: layer {index} is not a Linear layer (needs a 2-D "
                                "weight and a matching bias).")
        layers.append((w, b))
    widths = tuple(int(w.shape[0]) for w, _ in layers)
    chained = all(layers[i][0].shape[1] == layers[i - 1][0].shape[0] for i in range(1, len(layers)))
    if widths != HEAD_WIDTHS or not chained:
        shapes = [tuple(w.shape[::-1]) for w, _ in layers]
        raise ShotCropError(
            f"{source}: not a LAION aesthetic-predictor head: its Linear layers map {shapes}, "
            f"expected input -> {' -> '.join(map(str, HEAD_WIDTHS))}.")
    return layers


def build_head(layers: list[tuple[Any, Any]]):
    """The predictor as the original `nn.Sequential` (keys layers.0 ... layers.7), in eval mode."""
    import torch

    mods: list = []
    for (w, b), p in zip(layers, _HEAD_DROPOUT):
        lin = torch.nn.Linear(int(w.shape[1]), int(w.shape[0]))
        with torch.no_grad():
            lin.weight.copy_(w.float())
            lin.bias.copy_(b.float())
        mods.append(lin)
        if p:
            mods.append(torch.nn.Dropout(p))
    class AestheticHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.Sequential(*mods)

        def forward(self, x):
            return self.layers(x)

    return AestheticHead().train(False)


def resolve_head(ref: str | os.PathLike, filename: str = DEFAULT_AESTHETIC_HEAD_FILE,
                 revision: str | None = None, cache_dir: str | os.PathLike | None = None) -> Path:
    """The head's .safetensors file: a file, a folder holding `filename`, or a Hub repo's."""
    ref = os.fspath(ref)
    convert = ("Convert it with `python tools/convert_aesthetic_head.py HEAD.pth "
               "HEAD.safetensors` (it reads the tensors only) and pass the .safetensors file.")
    path = Path(ref).expanduser()
    if path.is_file():
        if path.suffix in PICKLE_SUFFIXES:
            raise ShotCropError(f"Aesthetic head {ref} is a pickle file, which ShotCrop never "
                                f"loads because unpickling can run code. {convert}")
        if path.suffix != ".safetensors":
            raise ShotCropError(f"Aesthetic head {ref} is not a .safetensors file.")
        return path
    if Path(filename).suffix != ".safetensors":
        raise ShotCropError(f"Aesthetic head file name {filename!r} must end in .safetensors. "
                            f"{convert}")
    folder = resolve_snapshot(ref, revision, cache_dir, allow_patterns=[filename, "*.json"],
                              what="Aesthetic head")
    if (folder / filename).is_file():
        return folder / filename
    found = sorted(folder.glob("*.safetensors"))
    if len(found) == 1:
        return found[0]
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ShotCropError(f"Aesthetic head '{ref}' has only pickle weights "
                            f"({', '.join(pickles)}), which ShotCrop never loads. {convert}")
    raise ShotCropError(f"Aesthetic head '{ref}' ({folder}) has no {filename}"
                        + (f" (it has {', '.join(p.name for p in found)})" if found else "")
                        + "; pass the .safetensors file itself or the right file name.")


class AestheticScorer:
    """The LAION improved aesthetic predictor: an MLP on L2-normalised CLIP image embeddings.

    The head (safetensors) predicts a 1-10 rating; `score` maps it to [0, 1] by (s - 1) / 9,
    clipped. The CLIP model must be the one the head was trained on (ViT-L/14 for the default).
    """

    name = "aesthetic"

    def __init__(self, head_ref: str | os.PathLike = DEFAULT_AESTHETIC_HEAD,
                 clip: ClipScorer | None = None, *, filename: str = DEFAULT_AESTHETIC_HEAD_FILE,
                 revision: str | None = None, cache_dir: str | os.PathLike | None = None) -> None:
        self.head_ref = os.fspath(head_ref)
        self.clip = clip if clip is not None else ClipScorer(cache_dir=cache_dir)
        self.filename, self.revision, self.cache_dir = filename, revision, cache_dir
        self._head = None

    def load(self) -> "AestheticScorer":
        if self._head is not None:
            return self
        path = resolve_head(self.head_ref, self.filename, self.revision, self.cache_dir)
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise ShotCropError(f"Cannot read the aesthetic head {path}: {e}") from e
        layers = head_layers(state, str(path))
        want, have = int(layers[0][0].shape[1]), self.clip.dim
        if want != have:
            raise ShotCropError(
                f"Aesthetic head '{self.head_ref}' expects {want}-dim CLIP image embeddings but "
                f"CLIP model '{self.clip.ref}' gives {have}-dim ones. Use the CLIP model the head "
                f"was trained on ({DEFAULT_CLIP} for the default head), or a head trained on "
                f"'{self.clip.ref}'.")
        self._head = build_head(layers)
        return self

    def ratings(self, images: Sequence) -> list[float]:
        """The head's raw 1-10 ratings (CPU, float32: the MLP costs nothing next to CLIP)."""
        self.load()
        import torch

        emb = self.clip.image_embeddings(images)
        with torch.inference_mode():
            return self._head(emb).reshape(-1).tolist()

    def score(self, images: Sequence) -> list[float]:
        """Aesthetic scores in [0, 1]."""
        return [to_unit(s) if math.isfinite(s) else 0.0 for s in self.ratings(images)]


# -- VLM judge -----------------------------------------------------------------------------------
def judge_messages(shots: ShotSet) -> list[dict]:
    """The judge's chat: the three crops (in shot order), each after its name and description."""
    content: list[dict] = []
    for i, shot in enumerate(shots, 1):
        desc = re.sub(r"\s+", " ", shot.description).strip() or "(no description)"
        content += [{"type": "text", "text": f"Image {i}, {shot.name}: {desc}"},
                    {"type": "image"}]
    content.append({"type": "text", "text": JUDGE_TASK})
    return [{"role": "system", "content": [{"type": "text", "text": JUDGE_SYSTEM}]},
            {"role": "user", "content": content}]


_RATING = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*$")


def _rating(v: Any) -> float | None:
    if isinstance(v, dict):  # {"score": 8, "why": "..."}
        v = next((v[k] for k in ("score", "rating", "grade") if k in v), None)
    if isinstance(v, str):
        m = _RATING.match(v)
        v = float(m.group(1)) if m else None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v) if 0 <= v <= SCORE_MAX else None  # 0 is read as "worst"; 85 is not a 1-10


def _ratings_from(value: Any) -> dict[str, float]:
    from ..vlm.parse import answer_shot_name

    out: dict[str, float] = {}
    if isinstance(value, dict):  # {"scores": {...}} / {"shots": [...]}
        inner = value.get("scores", value.get("shots"))
        value = inner if isinstance(inner, (dict, list)) else value
    if isinstance(value, dict):
        items = [(answer_shot_name(k), v) for k, v in value.items()]
    elif isinstance(value, list):  # [{"shot": "medium", "score": 8}, ...]
        items = [(answer_shot_name(d.get("shot", d.get("name"))), d) for d in value if isinstance(d, dict)]
    else:
        return out
    for name, v in items:
        r = _rating(v)
        if name is not None and r is not None and name not in out:
            out[name] = r
    return out


def parse_judge(text: str) -> list[float | None]:
    """The judge's 1-10 rating per shot (establishing, medium, close_up), None where unreadable.

    Tolerant, never `eval`: think blocks and code fences are skipped, then each {...} / [...]
    span is read as JSON (or JSON-ish: single quotes, bare keys); bare "name: 7, ..." text too.
    """
    from ..vlm.parse import split_thinking

    _, answer = split_thinking(str(text))
    candidates = [answer[a:b] for a, b in find_spans(answer)] + ["{" + answer.strip() + "}"]
    for span in candidates:
        try:
            value, _ = decode(span)
        except LenientJSONError:
            continue
        found = _ratings_from(value)
        if found:
            return [found.get(n) for n in SHOT_NAMES]
    return [None] * len(SHOT_NAMES)


def _thumbnail(image, max_side: int):
    image = as_rgb(image)
    if max(image.size) <= max_side:
        return image
    image = image.copy()
    image.thumbnail((max_side, max_side))
    return image


class JudgeScorer:
    """A loaded Qwen VL model (`vlm.loading.load_vlm`) grading each shot from 1 to 10.

    The judge sees the three crops, not the photo with boxes drawn on it: it grades what a viewer
    of each shot would see (edge cuts, headroom, balance) at the crop's own resolution, whereas
    thin box outlines on the whole photo shrink below what the vision encoder resolves and
    nested boxes hide each other. Scores are mapped by (s - 1) / 9; an unreadable answer gives
    None for that shot.
    """

    name = "judge"

    def __init__(self, loaded_vlm, *, max_new_tokens: int = JUDGE_MAX_NEW_TOKENS,
                 batch_size: int = 4, max_side: int = JUDGE_MAX_SIDE) -> None:
        self.loaded = loaded_vlm
        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = max(1, int(batch_size))
        self.max_side = int(max_side)

    def score(self, image, shots: ShotSet) -> list[float | None]:
        """[establishing, medium, close_up] scores in [0, 1] (None: unreadable) for one triple."""
        return self.score_many([image], [shots])[0]

    def score_many(self, images: Sequence, shotsets: Sequence[ShotSet]) -> list[list[float | None]]:
        """`score` for several (photo, triple) pairs, `batch_size` triples per generate call."""
        from ..imageio import crop

        out: list[list[float | None]] = []
        pairs = list(zip(images, shotsets))
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start:start + self.batch_size]
            crops = [[_thumbnail(crop(as_rgb(im), shot.box), self.max_side) for shot in shots]
                     for im, shots in chunk]
            answers = self._generate([judge_messages(s) for _, s in chunk], crops)
            for text in answers:
                raw = parse_judge(text)
                if None in raw:
                    log.debug("judge answer not fully readable: %r", text[:300])
                out.append([None if r is None else to_unit(r) for r in raw])
        return out

    def _generate(self, conversations: list[list[dict]], images: list[list]) -> list[str]:
        """Greedy answers, one per conversation (each with its own list of images)."""
        import torch

        proc, model = self.loaded.processor, self.loaded.model
        texts = [proc.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                 for c in conversations]
        flat = [im for ims in images for im in ims]  # Qwen processors take images in prompt order
        inputs = proc(text=texts, images=flat, padding=True, return_tensors="pt")
        inputs = inputs.to(self.loaded.device)
        tok = proc.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                 temperature=None, top_p=None, top_k=None, pad_token_id=pad)
        new = out[:, inputs["input_ids"].shape[1]:]
        return proc.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)


__all__ = ["AestheticScorer", "ClipScorer", "JudgeScorer", "CLIP_SCORE_WEIGHT", "HEAD_WIDTHS",
           "build_head", "head_layers", "judge_messages", "parse_judge", "resolve_head", "to_unit"]
