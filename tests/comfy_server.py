"""A real, headless ComfyUI server on CPU for the tests: started from a temporary base directory
with this repository linked in as custom_nodes/shotcrop, driven over its HTTP API, and always
killed (its whole process group) when the requesting fixture ends.

Shared by test_comfy_server.py and test_browser.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 180  # s; ~10 s on a 2-core machine
RUN_TIMEOUT = 240  # s for one prompt


class Server:
    def __init__(self, base: Path, port: int, proc: subprocess.Popen, log: Path) -> None:
        self.base, self.port, self.proc, self.log_path = base, port, proc, log
        self.url = f"http://127.0.0.1:{port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None,
                timeout: float = 30):
        req = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get_json(self, path: str):
        status, body = self.request(path)
        assert status == 200, f"GET {path} -> {status}: {body[:500]!r}"
        return json.loads(body)

    def post_json(self, path: str, payload) -> tuple[int, dict]:
        status, body = self.request(path, json.dumps(payload).encode(),
                                    {"Content-Type": "application/json"})
        return status, json.loads(body) if body else {}

    def upload(self, path: Path) -> str:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
                f"filename=\"{path.name}\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
        body += path.read_bytes() + f"\r\n--{boundary}\r\nContent-Disposition: form-data; " \
                                    f"name=\"overwrite\"\r\n\r\ntrue\r\n--{boundary}--\r\n".encode()
        status, out = self.request("/upload/image", body,
                                   {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert status == 200, out
        return json.loads(out)["name"]

    def run(self, prompt: dict) -> dict:
        """Queue an API-format prompt and wait for its history entry (bounded)."""
        status, out = self.post_json("/prompt", {"prompt": prompt, "client_id": "shotcrop-test"})
        assert status == 200, f"/prompt refused the graph: {json.dumps(out)[:2000]}"
        pid = out["prompt_id"]
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            hist = self.get_json(f"/history/{pid}")
            if pid in hist and hist[pid].get("status", {}).get("completed") is not None:
                if hist[pid]["status"].get("status_str") in ("success", "error"):
                    return hist[pid]
            assert self.proc.poll() is None, "ComfyUI exited:\n" + self.log()[-3000:]
            time.sleep(0.5)
        raise AssertionError(f"prompt {pid} did not finish in {RUN_TIMEOUT} s:\n"
                             + self.log()[-3000:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(comfyui_dir: str, tmp_path_factory, request) -> Server:
    """Start ComfyUI (bounded wait); the server is killed when `request`'s fixture finalizes."""
    COMFYUI_DIR = comfyui_dir
    base = tmp_path_factory.mktemp("comfy_base")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "shotcrop").symlink_to(ROOT, target_is_directory=True)
    port = free_port()
    log = base / "server.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
             "--base-directory", str(base)],
            cwd=COMFYUI_DIR, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)  # own process group: the finalizer kills its children too

    def stop() -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(15)

    request.addfinalizer(stop)
    srv = Server(base, port, proc, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ComfyUI exited with {proc.returncode} while starting:\n"
                        + srv.log()[-3000:])
        try:
            if srv.request("/system_stats", timeout=2)[0] == 200:
                return srv
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"ComfyUI did not answer within {START_TIMEOUT} s:\n" + srv.log()[-3000:])


def comfyui_dir_or_skip(needs: str, what: str) -> str:
    """COMFYUI_DIR when it holds `needs` (main.py, comfy_api); else skip the module, saying how."""
    import pytest

    d = os.environ.get("COMFYUI_DIR")
    if not d:
        pytest.skip(f"{what} need a ComfyUI checkout: run with COMFYUI_DIR=/path/to/ComfyUI",
                    allow_module_level=True)
    if not (Path(d) / needs).exists():
        pytest.skip(f"COMFYUI_DIR={d} is not a ComfyUI checkout (no {needs} in it)",
                    allow_module_level=True)
    return d
