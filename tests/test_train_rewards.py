"""GRPO rewards on hand-made cases around one real photo with human keypoints: the expert triple
scores highest, a joint cut and an eye line out of band are penalised, a malformed answer gets 0
everywhere, sloppy-but-readable answers get partial format credit, and no input makes a reward
raise. The last tests call the rewards through TRL's own `_calculate_rewards`."""

from __future__ import annotations

import json
import math
import types

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from shotcrop_core.errors import ShotCropError
from shotcrop_core.framing import compose
from shotcrop_core.perception.given import load_keypoints
from shotcrop_core.shots import SHOT_NAMES, Box
from shotcrop_core.train.chat import answer_text
from shotcrop_core.train.rewards import (DEFAULT_WEIGHTS, REWARDS, aspect_reward, format_reward,
                                         iou_reward, joint_safety_reward, make_aesthetic_reward,
                                         nesting_reward, people_from_json, reward_columns,
                                         reward_functions)

PHOTO = "000000234748.jpg"
W, H = 640, 425


@pytest.fixture(scope="module")
def case(data_dir):
    """The framing engine's triple on the photo's human keypoints: nested, joint-safe, eyes in
    band (checked below), so it can stand in for an expert's reference."""
    people = load_keypoints(data_dir / "person_keypoints.json").people_for(PHOTO, image_size=(W, H))
    shots = compose(people, W, H)
    assert not shots.all_warnings
    ref = {s.name: (s.box, s.description) for s in shots}
    cols = {"width": W, "height": H, "family": "qwen3_vl", "input_size": None,
            "reference": json.dumps({n: b.to_list() for n, (b, _) in ref.items()}),
            "keypoints": json.dumps([[float(v) for v in p.keypoints.reshape(-1)]
                                     for p in people]),
            "aspects": ""}
    return types.SimpleNamespace(ref=ref, cols=cols, people=people, subject=shots.subject.index)


def score(fn, case, *texts, **override):
    cols = {k: [override.get(k, v)] * len(texts) for k, v in case.cols.items()}
    return fn(prompts=[[]] * len(texts), completions=list(texts), **cols)


def answer(case, family="qwen3_vl", size=None, **moves):
    shots = dict(case.ref)
    for name, box in moves.items():
        shots[name] = (box, shots[name][1])
    return answer_text(shots, W, H, family, size)


def test_the_reference_triple_scores_highest_on_every_reward(case):
    ref = answer(case)
    for name, fn in REWARDS.items():
        assert score(fn, case, ref) == [pytest.approx(1.0, abs=0.02)], name
    med = case.ref["medium"][0]
    shifted = answer(case, medium=Box(med.x0 + 20, med.y0, min(W, med.x1 + 20), med.y1))
    far = answer(case, close_up=Box(0, 0, 60, 60), medium=Box(0, 0, 120, 160))
    s_ref, s_shift, s_far = score(iou_reward, case, ref, shifted, far)
    assert s_ref > s_shift > s_far
    # one shot disjoint from its reference loses a third of the mean
    cu = case.ref["close_up"][0]
    off = answer(case, close_up=Box(0, 0, cu.w, cu.h))
    assert score(iou_reward, case, off)[0] == pytest.approx(2 / 3, abs=0.02)


def test_several_annotators_score_each_shot_against_its_best_match(case):
    ref = json.loads(case.cols["reference"])
    other = {n: [0, 0, W, H] for n in SHOT_NAMES}
    both = json.dumps([other, ref])
    assert score(iou_reward, case, answer(case), reference=both) == [pytest.approx(1.0, abs=0.02)]


def test_a_joint_cut_is_penalised(case):
    a_knee = next(j for j in people_from_json(case.cols["keypoints"])[0].keypoints[[13, 14]]
                  if j[2] > 0)
    med = case.ref["medium"][0]
    # the medium's bottom edge right on a knee (inside the box's x span)
    assert med.x0 <= a_knee[0] <= med.x1
    cut = answer(case, medium=Box(med.x0, med.y0, med.x1, int(round(a_knee[1]))))
    safe, bad = score(joint_safety_reward, case, answer(case), cut)
    assert safe == pytest.approx(1.0)
    assert bad <= 1.0 - 1 / 5 + 1e-9  # one of five parts lost (plus, maybe, the eye line)
    # without landmarks the joint term cannot judge: 1
    assert score(joint_safety_reward, case, cut, keypoints="") == [1.0]


def test_an_eye_line_out_of_band_is_penalised(case):
    cu = case.ref["close_up"][0]
    low = Box(cu.x0, max(0, cu.y0 - cu.h // 2), cu.x1, max(0, cu.y0 - cu.h // 2) + cu.h)
    s_ok, s_low = score(joint_safety_reward, case, answer(case), answer(case, close_up=low))
    assert s_low < s_ok


def test_malformed_answers_get_zero_on_every_reward(case):
    bad = ["I cannot see the image clearly.", "", '{"shots": [{"shot": "establishing", "bbox_2d"',
           '{"shots": [{"shot": "medium", "bbox_2d": [1, 2, 300, 400]}]}', None, 42,
           [{"role": "assistant", "content": None}]]
    for name, fn in REWARDS.items():
        assert score(fn, case, *bad) == [0.0] * len(bad), name


def test_sloppy_but_readable_answers_get_partial_format_credit(case):
    clean = answer(case)
    fenced = f"Here are the shots:\n```json\n{clean}\n```"
    single = clean.replace('"', "'")
    no_desc = json.dumps({"shots": [{"shot": n, "bbox_2d": d["bbox_2d"]}
                                    for n, d in zip(SHOT_NAMES, json.loads(clean)["shots"])]})
    think = "<think>\nthe subject is centred\n</think>\n" + clean
    grid = answer(case)  # the 0-1000 grid where qwen2_5_vl was asked for resized pixels
    dup = json.dumps({"shots": [dict(d, bbox_2d=[100, 100, 400, 400])
                                for d in json.loads(clean)["shots"]]})
    got = dict(zip(["clean", "think", "fenced", "single", "no_desc", "dup"],
                   score(format_reward, case, clean, think, fenced, single, no_desc, dup)))
    got["grid"], = score(format_reward, case, grid, family="qwen2_5_vl", input_size=[812, 532])
    assert got["clean"] == got["think"] == 1.0
    for k in ("fenced", "single", "no_desc", "grid", "dup"):
        assert 0.0 < got[k] < 1.0, (k, got)
    assert got["no_desc"] < got["fenced"]  # three missing descriptions cost more than a fence
    # sloppy answers are still read: the boxes count for IoU
    assert score(iou_reward, case, fenced) == [pytest.approx(1.0, abs=0.02)]


def test_qwen25_answers_are_read_in_resized_pixels(case):
    size = (812, 532)
    text = answer(case, "qwen2_5_vl", size)
    got = score(iou_reward, case, text, family="qwen2_5_vl", input_size=list(size))
    assert got == [pytest.approx(1.0, abs=0.02)]
    assert score(format_reward, case, text, family="qwen2_5_vl", input_size=list(size)) == [1.0]


def test_nesting_gives_partial_credit(case):
    est = case.ref["establishing"][0]
    cu = case.ref["close_up"][0]
    swapped = answer(case, close_up=est, establishing=cu)
    small_est = answer(case, establishing=case.ref["medium"][0])
    s_ref, s_swap, s_small = score(nesting_reward, case, answer(case), swapped, small_est)
    assert s_ref == 1.0 and 0.0 <= s_swap < s_small < 1.0


def test_aspect_fit(case):
    sq = {n: Box(100, 50, 300, 250) for n in SHOT_NAMES}
    sq["establishing"] = Box(0, 0, 425, 425)
    text = answer(case, **sq)
    assert score(aspect_reward, case, text) == [1.0]  # nothing asked
    assert score(aspect_reward, case, text, aspects=json.dumps("1:1")) == [1.0]
    wide = score(aspect_reward, case, text, aspects=json.dumps({"close_up": "16:9"}))[0]
    assert 0.0 <= wide < 1.0
    assert score(aspect_reward, case, text, aspects=json.dumps("16:9")) == [0.0]  # 1.78x off


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=st.one_of(
    st.text(max_size=300),
    st.builds(lambda a, b: '{"shots": [' + a + "]}" + b, st.text(max_size=200),
              st.text(max_size=20)),
    st.lists(st.tuples(st.sampled_from(["establishing", "medium", "close_up", "wide", "x"]),
                       st.lists(st.one_of(st.integers(-2000, 3000), st.floats(allow_nan=True),
                                          st.text(max_size=3)), max_size=5)),
             max_size=4).map(lambda xs: json.dumps(
                 {"shots": [{"shot": n, "bbox_2d": b} for n, b in xs]}, default=str))),
    family=st.sampled_from(["qwen3_vl", "qwen2_5_vl"]),
    size=st.one_of(st.none(), st.tuples(st.integers(1, 2000), st.integers(1, 2000)).map(list)),
    keypoints=st.sampled_from(["", "[]", "not json", "[[1, 2]]", "null"]),
    aspects=st.sampled_from(["", '"1:1"', '{"medium": "4:5"}', '"bogus"', "{"]))
def test_no_input_makes_a_reward_raise(case, text, family, size, keypoints, aspects):
    for fn in REWARDS.values():
        out = score(fn, case, text, [{"role": "assistant", "content": text}], family=family,
                    input_size=size, keypoints=keypoints, aspects=aspects)
        assert len(out) == 2 and all(0.0 <= v <= 1.0 and math.isfinite(v) for v in out)


def test_bad_columns_score_zero_instead_of_raising(case):
    text = answer(case)
    assert score(iou_reward, case, text, reference="") == [0.0]
    assert score(iou_reward, case, text, family="llava") == [0.0]
    assert iou_reward(completions=[text], width=[W]) == [0.0]  # columns missing


def test_aesthetic_reward_scores_the_three_crops_in_one_batch(case, data_dir):
    class Scorer:
        calls = []

        def score(self, images):
            self.calls.append(len(images))
            return [min(1.0, im.width / W) for im in images]  # wider crop, higher score

    fn = make_aesthetic_reward(Scorer())
    assert fn.__name__ == "aesthetic_reward"  # TRL logs rewards by function name
    path = str(data_dir / PHOTO)
    cols = {k: [v] * 3 for k, v in case.cols.items()}
    out = fn(completions=[answer(case), "garbage", answer(case, **{n: Box(0, 0, W, H)
                                                                   for n in SHOT_NAMES})],
             image_path=[path] * 3, **cols)
    assert Scorer.calls == [6]  # two readable answers x three crops, one call
    assert out[1] == 0.0 and out[2] == pytest.approx(1.0) and 0.0 < out[0] < 1.0


def test_reward_functions_and_weights_line_up():
    funcs, weights = reward_functions()
    assert [f.__name__ for f in funcs] == ["iou_reward", "format_reward", "nesting_reward",
                                          "aspect_reward", "joint_safety_reward"]
    assert weights == [DEFAULT_WEIGHTS[n] for n in ("iou", "format", "nesting", "aspect",
                                                    "joint_safety")]
    funcs, weights = reward_functions(["iou", "aesthetic"], {"iou": 2.0},
                                      aesthetic=types.SimpleNamespace(score=lambda ims: []))
    assert [f.__name__ for f in funcs] == ["iou_reward", "aesthetic_reward"]
    assert weights == [2.0, 0.25]
    assert len(reward_functions(aesthetic=object())[0]) == 6
    for bad in (dict(names=["iuo"]), dict(weights={"x": 1}), dict(names=["aesthetic"]),
                dict(weights={"iou": -1}), dict(names=[])):
        with pytest.raises(ShotCropError):
            reward_functions(**bad)


def test_reward_columns_from_a_training_example(case, data_dir):
    from shotcrop_core.bench.tsc import parse_tsc

    shots = {n: {"box": b.to_list(), "description": d} for n, (b, d) in case.ref.items()}
    sample = parse_tsc({"format": "shotcrop-tsc", "version": 1, "samples": [
        {"image": PHOTO, "width": W, "height": H, "split": "train", "shots": shots}]}).samples[0]
    ex = types.SimpleNamespace(sample=sample, image_path=data_dir / PHOTO)
    cols = reward_columns(ex, "Qwen2.5-VL", (812, 532), case.people, {"close_up": "1:1"})
    assert cols["family"] == "qwen2_5_vl" and cols["input_size"] == [812, 532]
    assert json.loads(cols["reference"]) == json.loads(case.cols["reference"])
    assert len(json.loads(cols["keypoints"])[0]) == 51
    assert json.loads(cols["aspects"])["close_up"] == "1:1"
    assert cols["image_path"].endswith(PHOTO)
    plain = reward_columns(ex, "qwen3_vl")
    assert plain["keypoints"] == "" and plain["aspects"] == "" and plain["input_size"] is None
    text = answer(case, "qwen2_5_vl", (812, 532))
    for name, fn in REWARDS.items():  # the columns feed every reward as they are
        got = fn(completions=[text], **{k: [v] for k, v in cols.items()})[0]
        # the reference triple is not square: only the aspect fit falls short
        assert 0.3 < got < 0.9 if name == "aspect" else got > 0.98, name


# -- through TRL's own reward call ---------------------------------------------------------------
def test_rewards_run_inside_trls_calculate_rewards(case):
    """GRPOTrainer._calculate_rewards (TRL 1.16) with its real keyword set: dataset columns,
    completion_ids, trainer_state, log_extra, log_metric; conversational completions."""
    torch = pytest.importorskip("torch")
    trl = pytest.importorskip("trl")
    from trl import GRPOTrainer

    funcs, weights = reward_functions()
    fake = types.SimpleNamespace(
        accelerator=types.SimpleNamespace(device=torch.device("cpu"), is_main_process=True),
        args=types.SimpleNamespace(report_to=[]), state=types.SimpleNamespace(global_step=0),
        reward_funcs=funcs, reward_processing_classes=[None] * len(funcs),
        reward_func_names=[f.__name__ for f in funcs], environments=None,
        _log_completion_extra=lambda *a, **k: None, _log_metric=lambda *a, **k: None)
    prompt = [{"role": "user", "content": [{"type": "text", "text": "plan three shots"}]}]
    texts = [answer(case), "nonsense"]
    inputs = [{"prompt": prompt, **case.cols, "image_path": "x.jpg"} for _ in texts]
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    got = GRPOTrainer._calculate_rewards(fake, inputs, [prompt] * 2, completions, [[1], [2]])
    assert tuple(got.shape) == (2, len(funcs))
    assert torch.allclose(got[0], torch.ones(len(funcs)), atol=0.02)
    assert torch.equal(got[1], torch.zeros(len(funcs)))
    assert trl.__version__  # the path above is TRL's, not a copy
