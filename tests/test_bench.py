import json
from pathlib import Path

import numpy as np
import pytest

from shotcrop_core.cli import main


def test_bench_validity_and_tsc(data_dir, tmp_path, capsys):
    # expert triples for one dev photo: take our own shots as the "expert" boxes (IoU 1, BDE 0)
    rc = main(["compose", str(data_dir / "000000234748.jpg"), "--keypoints",
               str(data_dir / "person_keypoints.json"), "--json", "--no-files"])
    assert rc == 0
    line = json.loads(capsys.readouterr().out)
    tsc = {"format": "shotcrop-tsc", "version": 1, "samples": [{
        "image": "000000234748.jpg", "width": line["width"], "height": line["height"],
        "shots": {s["shot"]: {"box": s["box"], "description": s["description"]}
                  for s in line["shots"]}}]}
    (tmp_path / "tsc.json").write_text(json.dumps(tsc))
    report = tmp_path / "r.md"
    rc = main(["bench", "--images", str(data_dir), "--keypoints",
               str(data_dir / "person_keypoints.json"), "--tsc", str(tmp_path / "tsc.json"),
               "--report", str(report)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "all valid + coherent" in out and "eye line + no cut" in out
    assert "2/2" in out                       # both dev photos scored
    assert "1.0000" in out and "0.0000" in out  # TSC IoU 1, BDE 0 against our own boxes
    text = report.read_text()
    assert "Shot validity" in text and "TSC" in text
    # a report is evidence: never overwritten by accident
    rc = main(["bench", "--images", str(data_dir), "--keypoints",
               str(data_dir / "person_keypoints.json"), "--report", str(report)])
    err = capsys.readouterr().err
    assert rc == 2 and "already exists" in err and report.read_text() == text


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
