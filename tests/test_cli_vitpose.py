"""`shotcrop compose` with no keypoints runs the Hub pose models: end to end, offline, through the
real Hub cache layout, in a fresh interpreter that only sees the environment variables."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from shotcrop_core.models import DEFAULT_PERSON_DETECTOR, DEFAULT_POSE_MODEL  # noqa: E402
from conftest import offline_env  # noqa: E402
from tiny_models import build_tiny_rtdetr, build_tiny_vitpose, save_to_hub_cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "tests" / "data" / "000000229358.jpg"


def _run(args, hf_home: Path):
    env = offline_env(hf_home)
    return subprocess.run([sys.executable, "-m", "shotcrop_core", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_cli_vitpose_offline_from_hub_cache(tmp_path):
    hub = tmp_path / "hf" / "hub"
    save_to_hub_cache(build_tiny_rtdetr(tmp_path / "det"), hub, DEFAULT_PERSON_DETECTOR)
    save_to_hub_cache(build_tiny_vitpose(tmp_path / "pose"), hub, DEFAULT_POSE_MODEL)
    r = _run(["compose", str(PHOTO), "--perception", "vitpose", "--json", "--out",
              str(tmp_path / "out")], tmp_path / "hf")
    assert r.returncode == 0, r.stderr
    line = json.loads(r.stdout)
    assert [s["shot"] for s in line["shots"]] == ["establishing", "medium", "close_up"]
    assert (line["width"], line["height"]) == (640, 423)
    assert (tmp_path / "out" / "000000229358_preview.jpg").is_file()


def test_cli_offline_without_models_says_what_to_do(tmp_path):
    r = _run(["compose", str(PHOTO), "--perception", "vitpose", "--json", "--no-files"],
             tmp_path / "empty")
    assert r.returncode == 2
    assert DEFAULT_PERSON_DETECTOR in r.stderr and "hf download" in r.stderr
    assert "--keypoints" in r.stderr and "Traceback" not in r.stderr
