"""Shared fixtures: the photos and human keypoints shipped in tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
#: Audit events (sys.addaudithook) that mean a connection or a command: importing the pack
#: must raise none (test_registry_scan.py, test_nodes_unit.py).
AUDITED = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request",
           "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn")


def pytest_sessionfinish(session, exitstatus):
    """SHOTCROP_REQUIRE_COMFYUI=1 (CI's ComfyUI stages): a run in which anything skipped fails.

    Catches every skip, including a module's own (test_browser.py's missing browser) and an
    importorskip; the -ra summary says what skipped and why. xfail is not a skip."""
    from comfy_server import require_comfyui

    if not require_comfyui():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        if reporter is not None:
            reporter.write_line(f"SHOTCROP_REQUIRE_COMFYUI=1: {len(skipped)} skipped, which this "
                                "run does not allow (reasons in the summary below)", red=True)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def coco():
    from shotcrop_core.perception.given import load_keypoints

    return load_keypoints(DATA / "person_keypoints.json")


#: Nothing listens here: if offline mode were ignored, a request would fail fast, never leave the box.
DEAD_ENDPOINT = "http://127.0.0.1:9"


def offline_env(hf_home: Path) -> dict:
    """The environment of a fresh interpreter that only has an offline Hub cache at hf_home."""
    import os

    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1",
           "HF_ENDPOINT": DEAD_ENDPOINT, "PYTHONPATH": str(ROOT)}
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE"):
        env.pop(var, None)
    return env


@pytest.fixture
def offline_hub(tmp_path, monkeypatch) -> Path:
    """HF_HOME in tmp and HF_HUB_OFFLINE=1, as a user would set them; returns the hub cache dir.

    huggingface_hub reads these variables into `huggingface_hub.constants` at import time, so the
    module attributes are patched to what a fresh interpreter would derive (subprocess tests check
    the plain environment-variable path end to end)."""
    hub = pytest.importorskip("huggingface_hub")
    home = tmp_path / "hf"
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", DEAD_ENDPOINT)
    c = hub.constants
    monkeypatch.setattr(c, "HF_HOME", str(home))
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(c, "ENDPOINT", DEAD_ENDPOINT)
    return home / "hub"


@pytest.fixture
def one_torch_thread():
    """Tiny models: extra intra-op threads only add synchronisation (and stall on a busy CPU)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
