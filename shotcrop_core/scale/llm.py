"""The vLLM engine at scale through `ray.data.llm` (`--engine vllm --ray ...`).

Ray's vLLM processor runs the model on GPU actors (continuous batching, tensor parallel per
replica, one replica per `concurrency`); around it, two CPU stages of ours keep the rest of
`--engine vllm` unchanged: the same prompt (`vlm.prompt.build_messages`), the same parser and
grammar repair (`vlm.parse`, `vlm.backend.repair`), the framing engine's shots per photo when
an answer cannot be used (or generation failed for it), and the same files and shot-set rows
as `stage.compose_dataset`:

    PromptActor  decode, find the people, the prompt with the photo scaled to what the model
                 sees (a JPEG data URL), the sampling parameters
    vLLM         ray.data.llm.build_processor(vLLMEngineProcessorConfig(...))
    AnswerActor  parse, repair on the landmarks or fall back, write the files -> stage.COLUMNS

Needs vLLM and `ray[llm]` on the GPU nodes; the two CPU stages need only shotcrop.
"""

from __future__ import annotations

import base64
import io
import json
import os
from dataclasses import replace
from typing import Any

from ..batch import ComposeRun, Outcome, build_pipeline, resume_state, write_outcome
from ..errors import ShotCropError
from ..keypoints import Person
from ..pipeline import DRAFT_SIDE, EngineSpec, Found, PeopleSource, PhotoResult, Pipeline
from ..vlm.vllm_engine import sampling
from .ray_module import require_ray
from .stage import (COLUMNS, Pool, absolute, batch_size_for, enter, photos_of, row_of,
                    rows_of)


def _processor_files(engine: EngineSpec):
    """(folder, family): the model's config and processor files, not its weights (a stage that
    prompts and parses does not run the model)."""
    from ..models import DEFAULT_VLM
    from ..vlm.loading import family_of, resolve_vlm

    path = resolve_vlm(engine.model or DEFAULT_VLM, revision=engine.revision, weights=False)
    return path, family_of(path)


def _model_source(engine: EngineSpec) -> tuple[str, dict]:
    """What the vLLM replicas load, and the engine settings that go with it: a local folder as
    an absolute path (every GPU node must reach it), else the Hub repo id (each node fetches
    its own copy, at `revision`)."""
    from ..models import DEFAULT_VLM

    from ..model_files import looks_like_path

    ref = os.path.expanduser(engine.model or DEFAULT_VLM)
    if os.path.isdir(ref):
        return os.path.abspath(ref), {}
    if looks_like_path(ref):  # a folder that is not there: say so here, not on the GPUs
        raise ShotCropError(f"model folder not found: {ref}")
    return ref, {"revision": engine.revision} if engine.revision else {}


def _options(engine: EngineSpec):
    from ..vlm.backend import GenerationOptions

    return engine.options or GenerationOptions()


class PromptActor:
    """Stage 1: people and prompt per photo (pose model and processor loaded once)."""

    def __init__(self, run: ComposeRun, engine: EngineSpec, cwd: str | None = None) -> None:
        from transformers import AutoProcessor

        self.away = enter(cwd)
        self.run, self.options = run, _options(engine)
        self.path, self.family = _processor_files(engine)
        self.processor = AutoProcessor.from_pretrained(str(self.path), trust_remote_code=False)
        self.pipe = build_pipeline(replace(run, write=False))  # draft decodes: pixels to see

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        rows: list[dict] = []
        todo = []
        for p in photos_of(batch, self.away):
            if isinstance(p, Outcome):
                rows.append(_passed(self.run, p))
            elif resume_state(self.run, p[1]) == "complete":
                rows.append(_passed(self.run, Outcome(p[0], str(p[1]), skipped=True)))
            else:
                todo.append(p)
        try:
            found = list(self.pipe.find_people(todo))
        except Exception as e:  # noqa: BLE001  one batch's unexpected failure: its photos'
            found = [PhotoResult(i, str(p), error=f"{p}: unexpected error: "
                                                  f"{type(e).__name__}: {e}") for i, p in todo]
        for r in found:
            try:
                rows.append(self._prompt(r) if r.ok else _passed(self.run, _as_outcome(r)))
            except Exception as e:  # noqa: BLE001  one photo's failure is its record
                why = str(e) if isinstance(e, ShotCropError) else \
                    f"{r.name}: unexpected error: {type(e).__name__}: {e}"
                rows.append(_passed(self.run, Outcome(r.index, r.name, error=why)))
        return {k: [row[k] for row in rows] for k in rows[0]} if rows else {}

    def _prompt(self, r: PhotoResult) -> dict:
        from ..vlm.loading import input_sizes
        from ..vlm.prompt import build_messages

        image = r.image.image
        grid = self.processor.image_processor(images=[image], return_tensors="np")
        (size,) = input_sizes(self.processor, grid["image_grid_thw"])
        o = self.options
        messages = build_messages(o.intent, o.reasoning, self.family, r.framing.aspects,
                                  image_size=size if self.family == "qwen2_5_vl" else None)
        seen = image.resize(size) if tuple(image.size) != tuple(size) else image
        buf = io.BytesIO()
        seen.save(buf, "JPEG", quality=95)
        url = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        for m in messages:  # the prompt's image placeholder, in the OpenAI form vLLM parses
            m["content"] = [{"type": "image_url", "image_url": {"url": url}}
                            if c.get("type") == "image" else c for c in m["content"]]
        W, H = r.image.frame_size
        return {**row_of(self.run, Outcome(r.index, r.name)), "messages": messages,
                "sampling_params": sampling(o),
                "people": json.dumps([p.to_dict() for p in r.people]),
                "estimated": r.estimated, "note": r.note or "", "width": W, "height": H,
                "resized": list(size), "family": self.family}


def _as_outcome(r: PhotoResult) -> Outcome:
    return Outcome(r.index, r.name, None, r.error)


def _passed(run: ComposeRun, o: Outcome) -> dict:
    """A row that skips the model (an error, or done before): a one-token prompt, so the vLLM
    stages keep their columns, and the answer stage passes it on as it is."""
    return {**row_of(run, o), "messages": [{"role": "user", "content": [{"type": "text", "text": "-"}]}],
            "sampling_params": {"max_tokens": 1, "temperature": 0.0, "seed": None},
            "people": "[]", "estimated": False, "note": "", "width": 0, "height": 0,
            "resized": [0, 0],
            "family": ""}


class AnswerActor:
    """Stage 3: the model's answers to shot sets (repaired, or the framing engine's), and
    the files written."""

    def __init__(self, run: ComposeRun, engine: EngineSpec, cwd: str | None = None) -> None:
        enter(cwd)  # the prompt stage said which relative paths this node cannot read
        self.run, self.intent = run, _options(engine).intent
        self.pipe = Pipeline(PeopleSource(), run.framing)  # the options per photo, no model

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        outcomes = []
        for k in range(len(batch["image"])):
            row = {c: batch[c][k] for c in batch}
            if row["error"] is not None or row["skipped"]:
                outcomes.append(Outcome(int(row["index"]), str(row["image"]), None,
                                        row["error"], bool(row["skipped"])))
                continue
            try:
                outcomes.append(self._answer(row))
            except Exception as e:  # noqa: BLE001  one photo's failure is its record
                name = str(row["image"])
                why = str(e) if isinstance(e, ShotCropError) else \
                    f"{name}: unexpected error: {type(e).__name__}: {e}"
                outcomes.append(Outcome(int(row["index"]), name, error=why))
        return rows_of(self.run, outcomes)

    def _answer(self, row: dict) -> Outcome:
        from ..imageio import load_image
        from ..vlm.backend import repair
        from ..vlm.parse import AnswerError, parse_answer, to_shotset

        index, name = int(row["index"]), str(row["image"])
        rewrite = resume_state(self.run, name) == "partial"
        people = [Person.from_dict(d) for d in json.loads(row["people"])]
        options = self.pipe.options_for(Found(people, bool(row["estimated"])))
        W, H = int(row["width"]), int(row["height"])
        text = str(row.get("generated_text") or "")
        failed = row.get("__inference_error__")
        shots, err = None, f"generation failed: {failed}" if failed else None
        if not failed:
            try:
                parsed = parse_answer(text, W, H, str(row["family"]), tuple(row["resized"]))
                shots = to_shotset(parsed, W, H)
            except AnswerError as e:
                err = str(e)
        # Read again here rather than carried through the model's stages: crops need the full
        # photo, a fallback's descriptions its colours.
        loaded = load_image(name, None if self.run.write else DRAFT_SIDE)
        final, raw = repair(loaded.image, people, options, shots, text, err, self.intent,
                            "once")
        if row.get("note"):  # as the pipeline adds it to any engine's shots
            final = replace(final, warnings=final.warnings + (str(row["note"]),))
        result = PhotoResult(index, name, final, people=people, image=loaded,
                             framing=options, raw=raw, estimated=bool(row["estimated"]))
        return write_outcome(self.run, result, rewrite=rewrite)


def require_llm(here: bool = True) -> None:
    """Ray's LLM part (which builds the vLLM stage), and vLLM itself where the model runs on
    this machine (`here`: a local cluster); else one clear error saying what to install."""
    import importlib
    import importlib.util

    try:
        importlib.import_module("ray.data.llm")
        if here and importlib.util.find_spec("vllm") is None:
            raise ImportError("No module named 'vllm'")
    except ImportError as e:
        raise ShotCropError(f"--engine vllm on Ray needs vLLM and ray[llm] ({e}): install "
                            "the vllm and ray[llm] packages (on the GPU nodes of a cluster), or "
                            "use --engine vlm (transformers, one model per actor)") from None


def compose_with_llm(ds, run: ComposeRun, engine: EngineSpec, *, pool: Pool | None = None,
                     cwd: str | None = None):
    """`stage.compose_dataset` for the vLLM engine: the same rows, generation by
    ray.data.llm (see the module doc). `pool.most` model replicas, one GPU each."""
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    from ..vlm.vllm_engine import engine_kwargs

    require_llm(here=False)

    ray = require_ray()

    cwd = cwd or os.getcwd()
    run = absolute(run)
    pool = pool or Pool.plan(run, engine)
    if not pool.gpus_per_worker:
        raise ShotCropError("--engine vllm on Ray runs vLLM on GPUs, and this cluster has none "
                            "(or --device cpu): use --engine vlm on the CPUs")
    source, pinned = _model_source(engine)
    options = _options(engine)
    config = vLLMEngineProcessorConfig(
        model_source=source,
        engine_kwargs={**engine_kwargs(engine.dtype, options.seed or 0), **pinned},
        concurrency=pool.most, batch_size=batch_size_for(engine),
        prepare_multimodal_stage=True, should_continue_on_error=True)
    generate = build_processor(config)
    kwargs = {"run": run, "engine": engine, "cwd": cwd}
    # The CPU stages share the CPUs (each scales from one actor as Ray Data sees fit).
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)) // 2)
    stage = dict(fn_constructor_kwargs=kwargs, batch_format="numpy", num_cpus=1,
                 batch_size=batch_size_for(engine),
                 compute=ray.data.ActorPoolStrategy(min_size=1, max_size=cpus))
    answered = generate(ds.map_batches(PromptActor, **stage))
    return answered.map_batches(AnswerActor, **stage).select_columns(list(COLUMNS))


__all__ = ["AnswerActor", "PromptActor", "compose_with_llm", "require_llm"]
