"""Shared fixtures: the photos and human keypoints shipped in tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def coco():
    from shotcrop_core.perception.given import load_keypoints

    return load_keypoints(DATA / "person_keypoints.json")
