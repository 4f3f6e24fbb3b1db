import json

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
