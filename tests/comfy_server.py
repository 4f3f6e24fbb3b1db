"""A real, headless ComfyUI server on CPU for the tests: started from a temporary base directory
with this repository linked in as custom_nodes/shotcrop, driven over its HTTP API, and always
killed (its whole process group) when the requesting fixture ends.

Shared by test_comfy_server.py and test_browser.py (and test_nodes_unit.py's skip helper).

Environment:
  COMFYUI_DIR               the ComfyUI tree to run; the server runs on this interpreter
                            (sys.executable), so run pytest with the Python ComfyUI is installed in
  SHOTCROP_FRONTEND_ROOT    serve this frontend (`--front-end-root`), e.g. an unpacked
                            comfyui-frontend-package wheel's comfyui_frontend_package/static;
                            unset: ComfyUI's own (bundled) frontend
  SHOTCROP_REQUIRE_COMFYUI  "1": nothing may skip (CI's ComfyUI stages): comfyui_dir_or_skip
                            fails instead of skipping, and conftest.py fails a run that skipped
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Callable

import pytest

from processes import stop_group

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


def require_comfyui() -> bool:
    """SHOTCROP_REQUIRE_COMFYUI=1: a missing ComfyUI (or browser) is a failure, not a skip."""
    return os.environ.get("SHOTCROP_REQUIRE_COMFYUI", "").strip() == "1"


def frontend_root() -> Path | None:
    """SHOTCROP_FRONTEND_ROOT, checked: the folder that holds the frontend's index.html."""
    d = os.environ.get("SHOTCROP_FRONTEND_ROOT", "").strip()
    if not d:
        return None
    root = Path(d).resolve()
    if not (root / "index.html").is_file():
        pytest.fail(f"SHOTCROP_FRONTEND_ROOT={d} holds no index.html (give the unpacked wheel's "
                    "comfyui_frontend_package/static folder)", pytrace=False)
    return root


def start_server(comfyui_dir: str, tmp_path_factory, request, *,
                 prepare: Callable[[Path], None] | None = None,
                 env: dict[str, str] | None = None) -> Server:
    """Start ComfyUI (bounded wait); the server is killed when `request`'s fixture finalizes.

    It runs on sys.executable (the interpreter running the tests), serving the frontend named
    by SHOTCROP_FRONTEND_ROOT if set, else ComfyUI's own. `prepare(base)` runs before ComfyUI
    starts (test-only custom nodes and model folders must exist before it scans them); `env`
    adds to the server's environment."""
    COMFYUI_DIR = comfyui_dir
    front_end = frontend_root()
    base = tmp_path_factory.mktemp("comfy_base")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "shotcrop").symlink_to(ROOT, target_is_directory=True)
    if prepare is not None:
        prepare(base)
    port = free_port()
    log = base / "server.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    cmd = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
           "--base-directory", str(base)]
    if front_end is not None:
        cmd += ["--front-end-root", str(front_end)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=COMFYUI_DIR, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)  # own process group: the finalizer kills its children too

    request.addfinalizer(lambda: stop_group(proc))
    srv = Server(base, port, proc, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ComfyUI exited with {proc.returncode} while starting:\n"
                        + srv.log()[-3000:])
        try:
            up = srv.request("/system_stats", timeout=2)[0] == 200
        except OSError:
            up = False
        if up:
            if front_end is not None:  # the page served is the frontend asked for
                status, page = srv.request("/", timeout=30)
                if status != 200 or page != (front_end / "index.html").read_bytes():
                    pytest.fail(f"ComfyUI does not serve SHOTCROP_FRONTEND_ROOT={front_end} "
                                f"(GET / -> {status}):\n" + srv.log()[-3000:])
            return srv
        time.sleep(0.5)
    pytest.fail(f"ComfyUI did not answer within {START_TIMEOUT} s:\n" + srv.log()[-3000:])


def skip_or_fail(reason: str) -> None:
    """Skip the calling module saying why; under SHOTCROP_REQUIRE_COMFYUI=1 fail it instead."""
    if require_comfyui():
        pytest.fail(f"SHOTCROP_REQUIRE_COMFYUI=1 but: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def comfyui_dir_or_skip(needs: str, what: str) -> str:
    """COMFYUI_DIR when it holds `needs` (main.py, comfy_api); else skip the module, saying how
    (fail it under SHOTCROP_REQUIRE_COMFYUI=1)."""
    d = os.environ.get("COMFYUI_DIR")
    if not d:
        skip_or_fail(f"{what} need a ComfyUI checkout: run with COMFYUI_DIR=/path/to/ComfyUI")
    if not (Path(d) / needs).exists():
        skip_or_fail(f"COMFYUI_DIR={d} is not a ComfyUI checkout (no {needs} in it)")
    return d
