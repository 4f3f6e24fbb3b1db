"""TSC-Bench loader, IoU/BDE metrics, scoring and report helpers."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, strategies as st

from shotcrop_core.bench.report import format_table, markdown_table, write_report
from shotcrop_core.bench.tsc import (TscFormatError, bde, iou, load_tsc, parse_tsc,
                                     score_tsc)
from shotcrop_core.errors import ShotCropError
from shotcrop_core.shots import SHOT_NAMES, Box, Shot, ShotSet

W, H = 200, 100
REF = {"establishing": [0, 0, 200, 100], "medium": [50, 0, 150, 100], "close_up": [80, 10, 120, 50]}


def shots(boxes: dict[str, list[int]]) -> dict:
    return {n: {"box": b, "description": f"{n} desc"} for n, b in boxes.items()}


def tsc_doc(*samples: dict) -> dict:
    return {"format": "shotcrop-tsc", "version": 1, "samples": list(samples)}


def sample(image: str = "a.jpg", boxes: dict | None = None, **kw) -> dict:
    return {"image": image, "width": W, "height": H, "shots": shots(boxes or REF), **kw}


def shotset(boxes: dict[str, list[int]], width: int = W, height: int = H) -> ShotSet:
    return ShotSet(width, height, *(Shot(n, Box(*boxes[n])) for n in SHOT_NAMES))


# -- metrics, by hand -------------------------------------------------------------------------
def test_identical_boxes() -> None:
    b = Box(10, 20, 60, 80)
    assert iou(b, b) == 1.0
    assert bde(b, b, W, H) == 0.0


def test_disjoint_boxes_iou_zero() -> None:
    assert iou(Box(0, 0, 10, 10), Box(10, 0, 20, 10)) == 0.0  # touching edge, x1 exclusive
    assert iou(Box(0, 0, 10, 10), Box(50, 50, 60, 60)) == 0.0


def test_half_overlap() -> None:
    # [0,10)x[0,10) vs [5,15)x[0,10): inter 50, union 150 -> 1/3.
    assert iou(Box(0, 0, 10, 10), Box(5, 0, 15, 10)) == pytest.approx(1 / 3)
    # A box holding exactly half of the other: inter 50, union 100.
    assert iou(Box(0, 0, 10, 10), Box(0, 0, 5, 10)) == pytest.approx(0.5)


def test_bde_shifted_box_by_hand() -> None:
    # Shift right by 20 px and down by 10 px in a 200x100 image:
    # x edges 20/200 = 0.1 each, y edges 10/100 = 0.1 each -> mean 0.1.
    assert bde(Box(10, 10, 60, 60), Box(30, 20, 80, 70), W, H) == pytest.approx(0.1)
    # Only the right edge moves, by 40 px: (40/200) / 4 = 0.05.
    assert bde(Box(0, 0, 100, 50), Box(0, 0, 140, 50), W, H) == pytest.approx(0.05)
    # Full image vs the top-left pixel: (0 + 199/200 + 0 + 99/100) / 4.
    assert bde(Box(0, 0, W, H), Box(0, 0, 1, 1), W, H) == pytest.approx((0.995 + 0.99) / 4)


boxes_st = st.tuples(st.integers(0, W - 1), st.integers(0, H - 1),
                     st.integers(1, W), st.integers(1, H)).filter(
    lambda t: t[2] > t[0] and t[3] > t[1]).map(lambda t: Box(*t))


@given(boxes_st, boxes_st)
def test_metric_properties(a: Box, b: Box) -> None:
    v = iou(a, b)
    assert 0.0 <= v <= 1.0
    assert v == iou(b, a)
    d = bde(a, b, W, H)
    assert d >= 0.0 and d == bde(b, a, W, H) and d <= 1.0
    assert (d == 0.0) == (a == b)
    assert (v == 1.0) == (a == b)


# -- loader -----------------------------------------------------------------------------------
def test_load_roundtrip(tmp_path) -> None:
    p = tmp_path / "tsc.json"
    p.write_text(json.dumps(tsc_doc(sample(split="train", reasoning="why"), sample("dir/b.jpg"))))
    data = load_tsc(p)
    assert len(data) == 2
    s = data.samples[0]
    assert (s.split, s.reasoning, s.width) == ("train", "why", W)
    assert s.annotations[0].shots["medium"].box == Box(50, 0, 150, 100)
    assert s.annotations[0].shots["close_up"].description == "close_up desc"
    assert data.samples[1].split == "test" and data.samples[1].name == "b.jpg"
    assert len(data.split("train")) == 1


def bad(mutate) -> dict:
    doc = tsc_doc(sample(), sample("b.jpg"))
    mutate(doc)
    return doc


@pytest.mark.parametrize("mutate, expect", [
    (lambda d: d["samples"][1]["shots"].pop("close_up"), "sample 1 (b.jpg): missing shot 'close_up'"),
    (lambda d: d["samples"][0]["shots"]["medium"].update(box=[150, 0, 250, 100]), "outside the 200x100"),
    (lambda d: d["samples"][0]["shots"]["medium"].update(box=[50, 0, 50, 100]), "empty"),
    (lambda d: d["samples"][0]["shots"]["medium"].update(box=[1, 2, 3]), "medium box must be a list"),
    (lambda d: d["samples"][0]["shots"]["medium"].update(box=[1.5, 0, 9, 9]), "whole pixels"),
    (lambda d: d["samples"][0]["shots"].update(wide={"box": [0, 0, 1, 1]}), "unknown shot 'wide'"),
    (lambda d: d["samples"][0].update(width=0), "'width' must be a positive integer"),
    (lambda d: d["samples"][0].update(split="testing"), "'split' must be one of"),
    (lambda d: d["samples"][0].pop("image"), "'image' must be a non-empty"),
    (lambda d: d["samples"][1].update(image="other/a.jpg"), "already used by sample 0"),
    (lambda d: d["samples"][0].update(annotations=[]), "exactly one of 'shots'"),
    (lambda d: d["samples"][0]["shots"]["medium"].update(description=3), "'description' must be"),
    (lambda d: d.update(format="coco"), "'format' must be 'shotcrop-tsc'"),
    (lambda d: d.update(version=2), "unsupported 'version' 2"),
    (lambda d: d.update(samples=[]), "'samples' must be a non-empty list"),
])
def test_loader_errors(tmp_path, mutate, expect) -> None:
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad(mutate)))
    with pytest.raises(TscFormatError) as e:
        load_tsc(p)
    msg = str(e.value)
    assert str(p) in msg and expect in msg
    assert isinstance(e.value, ShotCropError)


def test_loader_error_names_sample_index(tmp_path) -> None:
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad(lambda d: d["samples"][1]["shots"]["medium"].update(box=[0, 0, 9, 999]))))
    with pytest.raises(TscFormatError, match=r"sample 1 \(b\.jpg\): medium box"):
        load_tsc(p)


def test_bad_json_and_missing_file(tmp_path) -> None:
    p = tmp_path / "broken.json"
    p.write_text('{"format": "shotcrop-tsc",')
    with pytest.raises(TscFormatError, match=r"broken\.json: not valid JSON \(line 1"):
        load_tsc(p)
    with pytest.raises(TscFormatError, match=r"nope\.json: no such TSC file.*shotcrop train draft"):
        load_tsc(tmp_path / "nope.json")
    with pytest.raises(TscFormatError, match="cannot read"):
        (tmp_path / "latin1.json").write_bytes(b'{"format": "\xe9"}')
        load_tsc(tmp_path / "latin1.json")


def test_annotator_errors_name_the_annotation() -> None:
    s = {"image": "a.jpg", "width": W, "height": H,
         "annotations": [{"shots": shots(REF)}, {"shots": shots({"medium": REF["medium"]})}]}
    with pytest.raises(TscFormatError, match=r"sample 0 \(a\.jpg\): annotations\[1\]: missing shot"):
        parse_tsc(tsc_doc(s), "mem.json")


# -- scoring ----------------------------------------------------------------------------------
def test_perfect_prediction() -> None:
    data = parse_tsc(tsc_doc(sample()))
    r = score_tsc({"/some/where/a.jpg": shotset(REF)}, data)
    assert r.count == 1 and r.total == 1 and r.complete
    assert r.mean_iou == 1.0 and r.mean_bde == 0.0
    assert r.shot_iou == {n: 1.0 for n in SHOT_NAMES}


def test_per_shot_values_and_means() -> None:
    pred = dict(REF, medium=[100, 0, 200, 100])  # medium shifted right by 50 px
    r = score_tsc({"a.jpg": shotset(pred)}, parse_tsc(tsc_doc(sample())))
    # [50,150) vs [100,200): inter 50*100, union 150*100 -> 1/3; BDE (50/200 * 2) / 4 = 0.125.
    assert r.shot_iou["medium"] == pytest.approx(1 / 3)
    assert r.shot_bde["medium"] == pytest.approx(0.125)
    assert r.mean_iou == pytest.approx((1 + 1 / 3 + 1) / 3)
    assert r.mean_bde == pytest.approx(0.125 / 3)


def test_multiple_annotators_best_of() -> None:
    far = dict(REF, close_up=[0, 0, 40, 40])
    s = {"image": "a.jpg", "width": W, "height": H,
         "annotations": [{"annotator": "A", "shots": shots(far)},
                         {"annotator": "B", "shots": shots(REF)}]}
    data = parse_tsc(tsc_doc(s))
    r = score_tsc({"a.jpg": shotset(REF)}, data)
    assert r.shot_iou["close_up"] == 1.0 and r.shot_bde["close_up"] == 0.0
    assert r.rows[0].reference["close_up"] == 1
    assert r.rows[0].reference["medium"] == 0  # tie: both identical, first kept


def test_best_reference_keeps_iou_and_bde_together() -> None:
    # Ref A overlaps best; ref B has a smaller BDE but lower IoU. Both numbers come from A.
    pred = Box(0, 0, 100, 100)
    a, b = Box(0, 0, 100, 90), Box(10, 0, 110, 100)
    from shotcrop_core.bench.tsc import best_reference
    k, i, d = best_reference(pred, [a, b], W, H)
    assert k == 0 and i == iou(pred, a) and d == bde(pred, a, W, H)
    assert iou(pred, a) > iou(pred, b)


def test_missing_predictions_reported() -> None:
    data = parse_tsc(tsc_doc(sample(), sample("b.jpg"), sample("c.jpg")))
    r = score_tsc({"a.jpg": shotset(REF), "zzz.jpg": shotset(REF)}, data)
    assert r.missing == ["b.jpg", "c.jpg"] and r.extra == ["zzz.jpg"]
    assert r.count == 1 and r.total == 3 and not r.complete
    assert r.mean_iou == 1.0
    worst = score_tsc({"a.jpg": shotset(REF)}, data, missing_as_worst=True)
    assert worst.count == 3
    assert worst.mean_iou == pytest.approx(1 / 3) and worst.mean_bde == pytest.approx(2 / 3)


def test_no_predictions_gives_nan_not_crash() -> None:
    r = score_tsc({}, parse_tsc(tsc_doc(sample())))
    assert r.count == 0 and r.missing == ["a.jpg"] and math.isnan(r.mean_iou)


def test_scaled_predictions() -> None:
    # Prediction on a half-size copy (100x50) of the 200x100 reference image.
    half = {n: [v // 2 for v in b] for n, b in REF.items()}
    r = score_tsc({"a.jpg": shotset(half, 100, 50)}, parse_tsc(tsc_doc(sample())))
    assert r.rows[0].scaled and r.mean_iou == 1.0 and r.mean_bde == 0.0


def test_scaled_prediction_with_rounded_size() -> None:
    # 3000x2000 downscaled to 1000x667 (rounded): aspect differs by 0.05 %, still the same image.
    ref = {"establishing": [0, 0, 3000, 2000], "medium": [600, 300, 2400, 2000],
           "close_up": [1200, 300, 1800, 900]}
    s = {"image": "big.jpg", "width": 3000, "height": 2000, "shots": shots(ref)}
    pred = {"establishing": [0, 0, 1000, 667], "medium": [200, 100, 800, 667],
            "close_up": [400, 100, 600, 300]}
    r = score_tsc({"big.jpg": shotset(pred, 1000, 667)}, parse_tsc(tsc_doc(s)))
    assert r.rows[0].scaled and not r.errors
    assert r.shot_iou["close_up"] > 0.99 and r.shot_bde["establishing"] == 0.0


def test_aspect_mismatch_is_a_sample_error() -> None:
    data = parse_tsc(tsc_doc(sample(), sample("b.jpg")))
    rotated = {n: [0, 0, 50, 50] for n in SHOT_NAMES}
    r = score_tsc({"a.jpg": shotset(REF), "b.jpg": shotset(rotated, H, W)}, data)
    assert r.count == 1 and [e[0] for e in r.errors] == ["b.jpg"]
    assert "aspect ratio differs" in r.errors[0][1]


def test_duplicate_prediction_names_rejected() -> None:
    with pytest.raises(ShotCropError, match="share the image name"):
        score_tsc({"x/a.jpg": shotset(REF), "y/a.jpg": shotset(REF)},
                  parse_tsc(tsc_doc(sample())))


def test_score_from_path_and_split(tmp_path) -> None:
    p = tmp_path / "t.json"
    p.write_text(json.dumps(tsc_doc(sample(split="train"), sample("b.jpg"))))
    r = score_tsc({"b.jpg": shotset(REF)}, p, split="test")
    assert r.total == 1 and r.complete
    assert json.loads(json.dumps(r.to_dict()))["count"] == 1


# -- report -----------------------------------------------------------------------------------
def test_tables() -> None:
    headers, rows = ["shot", "IoU", "n"], [["medium", 0.5, 3], ["close_up|x", 0.25, 12]]
    text = format_table(headers, rows)
    lines = text.splitlines()
    assert lines[0].startswith("shot") and "0.5000" in text and len({len(l) for l in lines[2:]}) == 1
    assert lines[3].endswith("12") and lines[2].endswith(" 3")  # numbers right-aligned
    md = markdown_table(headers, rows)
    assert md.splitlines()[1] == "|---|---:|---:|" and "close_up\\|x" in md
    with pytest.raises(ShotCropError, match="row 0 has 1 cells"):
        format_table(["a", "b"], [[1]])


def test_result_table_renders() -> None:
    r = score_tsc({"a.jpg": shotset(REF)}, parse_tsc(tsc_doc(sample())))
    assert "close_up" in format_table(*r.table())


def test_write_report_refuses_overwrite(tmp_path) -> None:
    p = tmp_path / "out" / "report.md"
    write_report(p, "TSC", {"Summary": "| a |\n", "Notes": "ok"})
    text = p.read_text()
    assert text.startswith("# TSC\n") and "## Summary" in text and "## Notes\n\nok" in text
    with pytest.raises(ShotCropError, match="already exists"):
        write_report(p, "TSC", [("Again", "x")])
    assert p.read_text() == text
    write_report(p, "TSC2", [("Again", "x")], force=True)
    assert p.read_text().startswith("# TSC2")
