import json
import re
from pathlib import Path

import numpy as np
import pytest

from shotcrop_core.cli import main


#: Expert triples written by hand for the two dev photos (x1/y1 exclusive), looking at them:
#: 000000234748 (640x425), a man in overalls leaning on a post by a car, on the phone;
#: 000000000790 (640x422), four people at a birthday table, the woman on the right nearest.
EXPERT = {
    "000000234748.jpg": (640, 425, {
        "establishing": [96, 40, 640, 400],   # the open car boot, the man and the steps
        "medium": [240, 110, 420, 290],       # the man from the head to mid-thigh
        "close_up": [270, 125, 360, 200]}),   # his head and shoulders, the phone at his ear
    "000000000790.jpg": (640, 422, {
        "establishing": [0, 0, 640, 422],     # the whole table
        "medium": [420, 110, 640, 390],       # the woman on the right, waist-up
        "close_up": [480, 130, 600, 240]}),   # her face
}


def write_expert_tsc(path: Path) -> Path:
    path.write_text(json.dumps({"format": "shotcrop-tsc", "version": 1, "samples": [
        {"image": name, "width": w, "height": h,
         "shots": {shot: {"box": box, "description": "by hand"} for shot, box in boxes.items()}}
        for name, (w, h, boxes) in EXPERT.items()]}))
    return path


def by_hand_iou(a, b) -> float:
    """IoU of two [x0, y0, x1, y1] pixel boxes, x1/y1 exclusive (written here, not imported)."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return iw * ih / (area(a) + area(b) - iw * ih)


def by_hand_bde(a, b, w, h) -> float:
    """Mean over the 4 edges of the offset, x edges over the width, y edges over the height."""
    return (abs(a[0] - b[0]) / w + abs(a[2] - b[2]) / w
            + abs(a[1] - b[1]) / h + abs(a[3] - b[3]) / h) / 4


def table_rows(out: str, title: str, n: int) -> dict[str, list[str]]:
    """{first cell: other cells} of the n rows of the printed table under `title`."""
    lines = out.split(title)[1].splitlines()[3:3 + n]
    return {line.split()[0]: line.split()[1:] for line in lines}


def test_bench_validity_and_tsc(data_dir, tmp_path, capsys):
    tsc = write_expert_tsc(tmp_path / "tsc.json")
    kp = str(data_dir / "person_keypoints.json")
    # The shots bench scores are the framing engine's on the human keypoints, which `compose`
    # prints; the IoU / BDE against the hand-written boxes are computed here, by hand.
    made = {}
    for name in EXPERT:
        assert main(["compose", str(data_dir / name), "--keypoints", kp, "--json",
                     "--no-files"]) == 0
        made[name] = {s["shot"]: s["box"] for s in json.loads(capsys.readouterr().out)["shots"]}
    want = {}
    for shot in ("establishing", "medium", "close_up"):
        ious = [by_hand_iou(made[n][shot], EXPERT[n][2][shot]) for n in EXPERT]
        bdes = [by_hand_bde(made[n][shot], EXPERT[n][2][shot], *EXPERT[n][:2]) for n in EXPERT]
        want[shot] = (sum(ious) / 2, sum(bdes) / 2)
    want["mean"] = tuple(sum(want[s][i] for s in ("establishing", "medium", "close_up")) / 3
                         for i in (0, 1))
    assert 0.05 < want["mean"][0] < 0.95  # the hand boxes are neither the engine's nor apart

    report = tmp_path / "r.md"
    rc = main(["bench", "--images", str(data_dir), "--keypoints", kp, "--tsc", str(tsc),
               "--report", str(report)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "TSC: IoU and BDE against expert boxes (2/2 scored)" in out
    rows = table_rows(out, "TSC: IoU and BDE against expert boxes (2/2 scored)", 4)
    assert rows == {k: [f"{i:.4f}", f"{b:.4f}"] for k, (i, b) in want.items()}

    # Validity from the grammar: 000000234748 (one man, whole and with room around him) allows
    # every shot and must get them all. In 000000000790 the subject (the woman on the right,
    # her box down to the photo's bottom 422) has an ankle at (375, 411), 11 px above it; the
    # establishing keeps the whole group (x 7.6..629.2, 621.6 px wide) at the photo's aspect,
    # so it is at least 621.6 x 422 / 640 = 409.9 px high and its bottom edge is the photo's:
    # 11 px < 0.03 x 409.9 = 12.3 px, an awkward cut no framing of that photo avoids.
    assert "Shot validity against human keypoints (shot grammar)" in out
    assert re.search(r"^no awkward cut\s+0\.5000\s+1/2\s", out, re.M)
    assert re.search(r"^eye line \+ no cut\s+0\.5000\s+1/2\s", out, re.M)
    text = report.read_text()
    assert "## Shot validity against human keypoints" in text and "## TSC IoU / BDE" in text
    failures = [ln for ln in text.splitlines() if ln.startswith("- ")]
    assert failures == ["- 000000000790.jpg: establishing: cut"]
    # a report is evidence: never overwritten by accident
    rc = main(["bench", "--images", str(data_dir), "--keypoints", kp, "--report", str(report)])
    err = capsys.readouterr().err
    assert rc == 2 and "already exists" in err and report.read_text() == text


def test_tsc_scores_a_known_shift_by_hand(tmp_path):
    """The 000000234748 expert triple against itself moved by hand: the medium 18 px down,
    the close-up 9 px right, the establishing kept; the other photo has no prediction."""
    from shotcrop_core.bench.report import format_table
    from shotcrop_core.bench.tsc import load_tsc, score_tsc
    from shotcrop_core.shots import Box, Shot, ShotSet

    data = load_tsc(write_expert_tsc(tmp_path / "tsc.json"))
    moved = {"establishing": [96, 40, 640, 400], "medium": [240, 128, 420, 308],
             "close_up": [279, 125, 369, 200]}
    pred = ShotSet(640, 425, *(Shot(n, Box.from_list(b)) for n, b in moved.items()))
    r = score_tsc({"some/where/000000234748.jpg": pred}, data)
    assert r.missing == ["000000000790.jpg"] and len(r.rows) == 1
    # medium 180 x 180, 18 px down: overlap 180 x 162 = 29160, union 2 x 32400 - 29160 = 35640,
    # IoU 29160 / 35640 = 9/11; BDE (0 + 0 + 18/425 + 18/425) / 4 = 9/425
    # close-up 90 x 75, 9 px right: overlap 81 x 75 = 6075, union 2 x 6750 - 6075 = 7425,
    # IoU 6075 / 7425 = 9/11; BDE (9/640 + 9/640 + 0 + 0) / 4 = 9/1280
    assert r.shot_iou == pytest.approx({"establishing": 1.0, "medium": 9 / 11,
                                        "close_up": 9 / 11})
    assert r.shot_bde == pytest.approx({"establishing": 0.0, "medium": 9 / 425,
                                        "close_up": 9 / 1280})
    # means over the three shots: IoU (1 + 18/11) / 3 = 29/33 = 0.8788,
    # BDE (9/425 + 9/1280) / 3 = 0.02117647 + 0.00703125 = 0.02820772 / 3 = 0.00940257
    assert r.mean_iou == pytest.approx(29 / 33) and r.mean_bde == pytest.approx(0.0094026, abs=1e-7)
    text = format_table(*r.table())
    assert "medium        0.8182  0.0212" in text and "mean          0.8788  0.0094" in text
    # the independent formulas above agree with the hand numbers (they check the CLI test)
    assert by_hand_iou(moved["medium"], EXPERT["000000234748.jpg"][2]["medium"]) == \
        pytest.approx(9 / 11)
    assert by_hand_bde(moved["close_up"], EXPERT["000000234748.jpg"][2]["close_up"], 640,
                       425) == pytest.approx(9 / 1280)


def test_validity_table_for_sets_judged_by_hand():
    """Four shot sets around the hand-placed subject of test_grammar_rules (600 x 700 photo),
    each judged from the spec there: the table counts exactly those verdicts."""
    from shotcrop_core.bench.validity import ValidityResult, score_validity
    from shotcrop_core.shots import Box, Shot, ShotSet, Subject
    from test_grammar_rules import BOX, person

    human = person()

    def shots(est, med, cu, subject=BOX):
        return ShotSet(600, 700, Shot("establishing", Box(*est)), Shot("medium", Box(*med)),
                       Shot("close_up", Box(*cu)),
                       subject=Subject(Box(*map(int, subject)), 0))

    cu = (250, 179, 350, 279)  # eyes 21%, bottom 279 between 224 and 300
    res = ValidityResult()
    # a: knee-up medium (eyes 40%, 20 px above the knees) in a 160 x 550 establishing
    #    (1.57 x the medium's area, ankles 30 px above its bottom): all good
    res.add("a.jpg", score_validity(shots((220, 30, 380, 580), (230, 40, 370, 440), cu), [human]))
    # b: the medium's bottom 7 px = 2% of its 350 px above the knees: a cut, still valid
    res.add("b.jpg", score_validity(shots((150, 20, 450, 620), (220, 103, 380, 453), cu), [human]))
    # c: the medium down to mid-shin (505): not "just below the knees", invalid, no cut
    #    (knees and ankles 45 px > 13.5 px from its bottom)
    res.add("c.jpg", score_validity(shots((150, 20, 450, 620), (200, 55, 400, 505), cu), [human]))
    # d: shots built around someone else (box 0..50): no human matches, every metric fails
    res.add("d.jpg", score_validity(shots((150, 20, 450, 620), (230, 40, 370, 440), cu,
                                          subject=(0, 0, 50, 50)), [human]))
    head, rows = res.table()
    assert head == ["metric", "rate", "photos", "meaning"]
    assert {r[0]: r[2] for r in rows} == {
        "establishing valid": "3/4", "medium valid": "2/4", "close_up valid": "3/4",
        "coherent": "3/4", "eye line": "3/4", "no awkward cut": "2/4", "look room": "3/4",
        "all valid + coherent": "2/4", "eye line + no cut": "2/4",
        "faces whole": "3/4"}  # nobody else in these photos: only d (no subject) fails it
    assert res.rate("medium valid") == 0.5 and res.rate("coherent") == 0.75
    assert res.failures == [("b.jpg", {"medium": ["cut"]}), ("c.jpg", {"medium": ["knees"]}),
                            ("d.jpg", {"set": ["no subject matched a person"]})]


def test_a_tsc_photo_the_keypoints_do_not_name(data_dir, tmp_path, capsys):
    """The third photo is in the TSC file but not in the COCO file: its landmarks come from the
    built-in default perception (the pipeline's policy), its boxes are scored, and validity is judged on
    the two photos with human keypoints only."""
    pytest.importorskip("torch")
    tsc = write_expert_tsc(tmp_path / "t.json")
    doc = json.loads(tsc.read_text())
    doc["samples"].append({"image": "000000229358.jpg", "width": 640, "height": 423, "shots": {
        "establishing": {"box": [0, 0, 640, 423], "description": "by hand"},
        "medium": {"box": [200, 50, 520, 400], "description": "by hand"},
        "close_up": {"box": [300, 60, 460, 200], "description": "by hand"}}})
    tsc.write_text(json.dumps(doc))
    assert main(["bench", "--images", str(data_dir), "--tsc", str(tsc), "--keypoints",
                 str(data_dir / "person_keypoints.json")]) == 0
    out = capsys.readouterr().out
    assert "TSC: IoU and BDE against expert boxes (3/3 scored)" in out
    assert "all valid + coherent" in out and "/2 " in out.split("all valid + coherent")[1][:30]
    assert "landmarks from keypoints from" in out and "movenet for the other photos" in out


def test_bench_needs_annotations(data_dir, capsys):
    assert main(["bench", "--images", str(data_dir)]) == 2
    assert "--keypoints" in capsys.readouterr().err
    assert main(["bench", "--images", str(data_dir / "nope"), "--keypoints",
                 str(data_dir / "person_keypoints.json")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_bench_takes_compose_engine_options(data_dir, tmp_path, capsys):
    from shotcrop_core.cli import build_parser

    engine = ["--engine", "vlm", "--model", "m", "--revision", "r", "--dtype", "bf16",
              "--attention", "eager", "--quantization", "4bit", "--intent", "her hat",
              "--reasoning", "--seed", "3", "--batch-size", "2", "--max-new-tokens", "5"]
    bench = vars(build_parser().parse_args(["bench", "--images", "x", *engine]))
    compose = vars(build_parser().parse_args(["compose", "x.jpg", *engine]))
    keys = [a.lstrip("-").replace("-", "_") for a in engine if a.startswith("--")]
    assert [bench[k] for k in keys] == [compose[k] for k in keys]
    assert bench["max_new_tokens"] == 5 and bench["engine"] == "vlm"
    # An existing report stops the run before any model loads (here: a missing one).
    report = tmp_path / "r.md"
    report.write_text("evidence")
    rc = main(["bench", "--images", str(data_dir), "--keypoints",
               str(data_dir / "person_keypoints.json"), "--engine", "vlm", "--model",
               "./no/such/model", "--report", str(report)])
    err = capsys.readouterr().err
    assert rc == 2 and "already exists" in err and report.read_text() == "evidence"
    rc = main(["bench", "--images", str(data_dir), "--keypoints",
               str(data_dir / "person_keypoints.json"), "--engine", "vlm", "--model",
               "./no/such/model"])
    assert rc == 2 and "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--images", str(data_dir), "--engine", "vlm", "--max-new-tokens", "0"])
    assert "--max-new-tokens: must be a whole number >= 1" in capsys.readouterr().err


def test_framing_noise_benchmark(data_dir, capsys):
    """benchmarks/bench_framing_noise.py: pose-model-sized noise on the human keypoints, scored
    against the clean ones; the exact column is the engine on the human keypoints themselves."""
    import importlib.util
    import sys
    from pathlib import Path

    import numpy as np

    from shotcrop_core.perception.given import load_keypoints

    path = Path(__file__).parent.parent / "benchmarks" / "bench_framing_noise.py"
    spec = importlib.util.spec_from_file_location("bench_framing_noise", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_framing_noise"] = bench
    spec.loader.exec_module(bench)

    human = load_keypoints(data_dir / "person_keypoints.json").people_for(
        data_dir / "000000234748.jpg")[0]
    moved = bench.like_a_pose_model(human, np.random.default_rng(0))
    seen = human.keypoints[:, 2] > 0
    assert not np.allclose(moved.keypoints[seen, :2], human.keypoints[seen, :2])
    assert (moved.keypoints[~seen, 2] == 0).all()
    x0, y0, x1, y1 = moved.box
    pts = moved.keypoints[seen, :2]
    assert (pts[:, 0] > x0).all() and (pts[:, 0] < x1).all() and (pts[:, 1] > y0).all()

    bench.main(["--images", str(data_dir), "--keypoints", str(data_dir / "person_keypoints.json"),
                "--draws", "2"])
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("all 2 photos")
    # 000000234748 (one standing person) is valid exactly and under this noise; 000000000790
    # breaks "no cut" even with exact keypoints (an ankle 11 px above the photo's bottom edge).
    row = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in out[1:-1]}
    assert row["000000234748.jpg"][:3] == [1.0, 1.0, 1.0]
    assert row["000000000790.jpg"][1] == 0.0
    assert all(0.0 <= v <= 1.0 for r in row.values() for v in r)


def test_pose_model_comparison_builds_people_and_scores_like_the_bench(coco, data_dir):
    """tools/compare_pose_models.py (a developer tool; its models come from npm, so only its
    offline parts run here): MoveNet output becomes a Person the way the BlazePose path builds
    one, and its scoring gives the human keypoints what `shotcrop bench` gives them."""
    import importlib.util

    from shotcrop_core.bench.validity import score_validity
    from shotcrop_core.framing import FramingOptions, compose
    from shotcrop_core.imageio import load_image

    spec = importlib.util.spec_from_file_location(
        "compare_pose_models", Path(__file__).parents[1] / "tools" / "compare_pose_models.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    yx = np.zeros((17, 3))
    yx[:, 0] = np.linspace(0.1, 0.9, 17)          # normalised y, head first
    yx[:, 1] = np.linspace(0.3, 0.7, 17)           # and x, so a swapped pair shows
    yx[:, 2] = 0.9
    yx[9, 2] = 0.1                                 # a wrist the model is unsure of: dropped
    p = tool.movenet_person(yx, lambda x, y: np.column_stack([x * 200, y * 100]))
    assert p.keypoints[9, 2] == 0 and p.keypoints[0, 2] >= 0.5
    assert p.keypoints[16, :2] == pytest.approx((0.7 * 200, 0.9 * 100))
    eyes, shoulders = p.keypoints[[1, 2], 1].mean(), p.keypoints[[5, 6], 1].mean()
    assert p.box[1] == pytest.approx(p.keypoints[[1, 2], 1].min() - 0.6 * (shoulders - eyes))
    yx[:, 2] = 0.1
    assert tool.movenet_person(yx, lambda x, y: np.column_stack([x, y])) is None

    paths = [data_dir / n for n in coco.names]
    found = {q.name: [h for h in coco.people_for(q) if h.n_visible >= 3] for q in paths}
    valid, eye_cut, pck, n = tool.score(found, coco, paths)
    opts = FramingOptions(joint_uncertainty=FramingOptions.ESTIMATED)
    reps = []
    for q in paths:
        im = load_image(q).image
        reps.append(score_validity(compose(found[q.name], *im.size, opts, image=im),
                                   found[q.name]))
    assert n == len(paths) and pck == 1.0
    assert valid == sum(r.all_valid and r.coherent for r in reps)
    assert eye_cut == sum(r.eye_line and r.no_cut for r in reps)
