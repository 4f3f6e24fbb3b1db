"""The VLM engine: a Qwen VL model proposes and describes the three shots, the grammar repairs them.

Flow per batch of photos: one chat prompt per photo -> one batched `generate` (left padding,
greedy unless a seed asks for sampling) -> parse each answer on its own (never merged across the
batch) -> photos whose answer cannot be used are asked once more, in a second batch -> still
unusable: the framing engine's shots, with a warning that says so. Usable answers go through
`refine` with the photo's landmarks, so nesting, eye line, joint-safe edges and aspects hold
while the model's narrative choice (and its descriptions) survive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

from ..errors import ShotCropError
from ..framing import FramingOptions, compose, conform, refine
from ..keypoints import EYES, KP, Person
from ..shots import ShotSet
from ..subject import face_points_inside
from .loading import input_sizes
from .parse import AnswerError, parse_answer, to_shotset
from .prompt import MAX_NEW_TOKENS, MAX_NEW_TOKENS_REASONING, build_messages, retry_message

log = logging.getLogger("shotcrop")


@dataclass(frozen=True)
class GenerationOptions:
    """How the model is asked: intent, think-then-answer, sampling, batch size."""

    intent: str | None = None
    reasoning: bool = False
    #: Greedy by default; a seed switches to sampling (reproducible for that seed).
    seed: int | None = None
    temperature: float = 0.7
    max_new_tokens: int | None = None
    batch_size: int = 8
    #: torch.compile the model's forward (pays off on long GPU batches, costs a warm-up).
    compile: bool = False

    @property
    def sampling(self) -> bool:
        return self.seed is not None

    @property
    def token_budget(self) -> int:
        if self.max_new_tokens:
            return int(self.max_new_tokens)
        return MAX_NEW_TOKENS_REASONING if self.reasoning else MAX_NEW_TOKENS


class VLMEngine:
    """Shots from a loaded Qwen VL model (see `vlm.loading.load_vlm`)."""

    def __init__(self, loaded, options: GenerationOptions | None = None) -> None:
        self.loaded = loaded
        self.options = options or GenerationOptions()
        if self.options.compile:
            import torch

            loaded.model.forward = torch.compile(loaded.model.forward, dynamic=True)

    def _sizes(self, images: list) -> list[tuple[int, int] | None]:
        """The resized size per photo, told to Qwen2.5-VL whose boxes are pixels of it."""
        if self.loaded.family != "qwen2_5_vl":
            return [None] * len(images)
        proc = self.loaded.processor
        grid = proc.image_processor(images=images, return_tensors="pt")["image_grid_thw"]
        return list(input_sizes(proc, grid))

    # -- generation ---------------------------------------------------------------------------
    def _generate(self, images: list, conversations: list[list[dict]]) -> list[tuple[str, tuple[int, int]]]:
        """Raw answers and, per photo, the resized size the processor gave the model."""
        import torch

        proc, model = self.loaded.processor, self.loaded.model
        texts = [proc.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                 for c in conversations]
        inputs = proc(text=texts, images=images, padding=True, return_tensors="pt")
        inputs = inputs.to(self.loaded.device)
        resized = input_sizes(proc, inputs["image_grid_thw"])
        kw = dict(max_new_tokens=self.options.token_budget, do_sample=self.options.sampling)
        if self.options.sampling:
            torch.manual_seed(int(self.options.seed))
            kw["temperature"] = self.options.temperature
        else:  # silence "temperature is set but do_sample=False" from checkpoint defaults
            kw.update(temperature=None, top_p=None, top_k=None)
        tok = proc.tokenizer
        kw["pad_token_id"] = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.inference_mode():
            out = model.generate(**inputs, **kw)
        new = out[:, inputs["input_ids"].shape[1]:]
        answers = proc.batch_decode(new, skip_special_tokens=True,
                                    clean_up_tokenization_spaces=False)
        return list(zip(answers, resized))

    def answers(self, images: list, aspects: dict[str, str] | None = None
                ) -> list[tuple[ShotSet | None, str, str | None]]:
        """(shots or None, raw answer, error) per photo, after at most one retry."""
        o = self.options
        convs = [build_messages(o.intent, o.reasoning, self.loaded.family, aspects,
                                image_size=size) for size in self._sizes(images)]
        results: list[tuple[ShotSet | None, str, str | None]] = [(None, "", None)] * len(images)
        todo = list(range(len(images)))
        for attempt in range(2):
            for start in range(0, len(todo), o.batch_size):
                idx = todo[start:start + o.batch_size]
                gen = self._generate([images[i] for i in idx], [convs[i] for i in idx])
                for i, (text, resized) in zip(idx, gen):
                    W, H = images[i].size
                    try:
                        parsed = parse_answer(text, W, H, self.loaded.family, resized)
                        results[i] = (to_shotset(parsed, W, H), text, None)
                    except AnswerError as e:
                        results[i] = (None, text, str(e))
                        # Ask once more, showing the model its own answer and what was wrong.
                        convs[i] = convs[i] + [
                            {"role": "assistant", "content": [{"type": "text", "text": text}]},
                            {"role": "user", "content": [{"type": "text",
                                                          "text": retry_message(str(e))}]}]
            todo = [i for i in todo if results[i][0] is None]
            if not todo:
                break
        return results

    # -- shots --------------------------------------------------------------------------------
    def propose(self, images: list, people: list[list[Person]] | None = None,
                framing: FramingOptions | Sequence[FramingOptions] | None = None
                ) -> list[ShotSet]:
        """One shot set per photo: the model's, repaired by the grammar; or the engine's."""
        return [shots for shots, _ in self.propose_with_answers(images, people, framing)]

    def propose_with_answers(self, images: list, people: list[list[Person]] | None = None,
                             framing: FramingOptions | Sequence[FramingOptions] | None = None,
                             *, keep_errors: bool = False
                             ) -> list[tuple[ShotSet | ShotCropError, ShotSet | None]]:
        """(shots, the model's own answer before repair or None when unusable) per photo.

        `framing` is one FramingOptions for all photos or one per photo (the clearance differs
        between human and estimated landmarks); the aspects asked for are the first photo's.
        With `keep_errors`, a photo whose shots cannot be made (a subject index it does not
        have) gets its ShotCropError in place of the shots instead of failing the batch."""
        if framing is None or isinstance(framing, FramingOptions):
            framing = [framing or FramingOptions()] * len(images)
        people = people if people is not None else [[] for _ in images]
        answers = self.answers(images, framing[0].aspects if framing else None)
        out: list[tuple[ShotSet | ShotCropError, ShotSet | None]] = []
        for img, ppl, opts, answer in zip(images, people, framing, answers):
            try:
                out.append(self._repair(img, ppl, opts, *answer))
            except ShotCropError as e:
                if not keep_errors:
                    raise
                out.append((e, None))
        return out

    def _repair(self, img, ppl: list[Person], opts: FramingOptions, shots: ShotSet | None,
                text: str, err: str | None) -> tuple[ShotSet, ShotSet | None]:
        return repair(img, ppl, opts, shots, text, err, self.options.intent)


def repair(img, ppl: list[Person], opts: FramingOptions, shots: ShotSet | None, text: str,
           err: str | None, intent: str | None = None, asked: str = "twice"
           ) -> tuple[ShotSet, ShotSet | None]:
    """A photo's shots from the model's parsed answer (`shots`; None when unusable, `err` says
    why): repaired by the grammar on the landmarks, or the framing engine's shots with a
    warning. `asked`: how often the model was asked ("twice" after a retry, "once")."""
    W, H = img.size
    if shots is None:
        log.debug("unusable model answer: %r", text[:500])
        base = compose(ppl, W, H, opts, image=img)
        note = (f"vlm: the model's answer could not be used {asked} ({err}); "
                "these are the framing engine's shots")
        return ShotSet(base.width, base.height, *base, subject=base.subject,
                       fallback=base.fallback, source="framing",
                       warnings=base.warnings + (note,), beyond=base.beyond), None
    if ppl:
        detail = bool(intent) and not _holds_face(shots, ppl)
        return refine(shots, ppl, opts, detail_close_up=detail), shots
    return conform(shots, opts.aspects), shots


def _holds_face(shots: ShotSet, people: list[Person]) -> bool:
    """Whether the proposed close-up contains some person's eyes or nose (else it is a detail
    shot)."""
    return any(face_points_inside(p, shots.close_up.box, (*EYES, KP["nose"])) for p in people)
