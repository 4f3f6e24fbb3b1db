"""Composing on a Ray cluster of two nodes (issue #18): a head and a worker node started here as
separate processes (`ray start --head`, `ray start --address`), one CPU each, so the two actors
of a run are on different nodes; the driver is `shotcrop compose --ray HOST:PORT` in its own
process. The same shot sets and files as compose; a driver killed halfway, then --resume: every
photo recorded once, nothing written twice."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is the [scale] extra: pip install -e '.[test]'")
pytest.importorskip("ray.data")

from photo_sets import DATA, by_image, copies, dev_photos, digests, lines  # noqa: E402
from processes import stop_group  # noqa: E402
from shotcrop_core.cli import main  # noqa: E402

RAY = str(Path(sys.executable).with_name("ray"))
SHOTCROP = [sys.executable, "-m", "shotcrop_core"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """HOST:PORT of a running two-node cluster and the environment its clients need (its own
    auth token); both nodes are stopped afterwards, and nothing else of Ray on this machine."""
    if not Path(RAY).exists():
        pytest.skip(f"no `ray` command beside {sys.executable}")
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0"}
    logs = tmp_path_factory.mktemp("ray_nodes")
    # --block keeps each `ray start` in the foreground: stopping it stops its node's processes.
    nodes = [subprocess.Popen([RAY, "start", "--head", f"--port={port}", "--num-cpus=1",
                               "--node-ip-address=127.0.0.1", "--include-dashboard=false",
                               "--block"], env=env, start_new_session=True,
                              stdout=open(logs / "head.log", "w"), stderr=subprocess.STDOUT)]
    address = f"127.0.0.1:{port}"
    try:
        _wait_nodes(address, env, 1, nodes)
        # The worker node declares a GPU (Ray schedules on what a node declares; no CUDA is
        # needed for that): GPU actors must land there.
        nodes.append(subprocess.Popen([RAY, "start", f"--address={address}", "--num-cpus=1",
                                       "--num-gpus=1", "--node-ip-address=127.0.0.1",
                                       "--block"], env=env,
                                      start_new_session=True,
                                      stdout=open(logs / "worker.log", "w"),
                                      stderr=subprocess.STDOUT))
        _wait_nodes(address, env, 2, nodes)
        yield address, env
    finally:
        for p in reversed(nodes):
            stop_group(p, 30)


def _wait_nodes(address: str, env: dict, n: int, nodes: list) -> None:
    code = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
            "print(sum(x['Alive'] and x['Resources'].get('CPU') == 1 for x in ray.nodes()))")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in nodes):
            raise RuntimeError("a `ray start` exited early: see its log")
        p = subprocess.run([sys.executable, "-c", code, address], env=env,
                           capture_output=True, text=True, timeout=120)
        if p.returncode == 0 and p.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(1)
    raise RuntimeError(f"the cluster at {address} did not reach {n} node(s)")


def _driver(args: list, env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen([*SHOTCROP, "compose", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_two_nodes_give_the_same_shot_sets_and_files_as_compose(head, tmp_path, capsys):
    address, env = head
    folder, kp = dev_photos()
    assert main(["compose", str(folder), "--keypoints", str(kp), "--out",
                 str(tmp_path / "plain"), "--json"]) == 0
    plain = lines(capsys.readouterr().out)
    p = _driver([folder, "--keypoints", kp, "--out", tmp_path / "ray", "--json", "--ray",
                 address, "--workers", "2"], env)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    assert by_image(lines(out)) == by_image(plain)
    assert by_image(lines((tmp_path / "ray" / "shots.jsonl").read_text())) == by_image(plain)
    assert digests(tmp_path / "ray") == digests(tmp_path / "plain")


def test_a_driver_killed_halfway_resumes_without_writing_anything_twice(head, tmp_path,
                                                                         capsys):
    address, env = head
    shoot = tmp_path / "shoot"
    kp = copies(shoot, 100)  # 200 photos
    out = tmp_path / "o"
    record = out / "shots.jsonl"
    args = [shoot, "--keypoints", kp, "--out", out, "--ray", address, "--workers", "2"]
    p = _driver(args, env, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None:
        if record.exists() and record.read_text().count("\n") >= 1:
            break
        time.sleep(0.02)
    assert p.poll() is None, "the run ended before it could be killed halfway"
    p.kill()  # SIGKILL: no clean-up of any kind
    p.communicate()
    time.sleep(2)  # the actors go with their driver
    at_kill = lines(record.read_text().rsplit("\n", 1)[0] + "\n")
    assert 1 <= len(at_kill) < 200
    done = {Path(r["image"]).stem for r in at_kill}
    kept = {f: (s.st_ino, s.st_mtime_ns) for f, s in
            ((f, f.stat()) for f in out.iterdir() if f.name != "shots.jsonl")
            if any(f.name.startswith(d + "_") for d in done)}
    assert len(kept) == 5 * len(done)  # 3 crops, a preview and the JSON per recorded photo
    p = _driver([*args, "--resume"], env)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    final = lines(record.read_text())
    assert len(final) == 200 and len(by_image(final)) == 200  # every photo once
    assert final[:len(at_kill)] == at_kill
    assert {f: (f.stat().st_ino, f.stat().st_mtime_ns) for f in kept} == kept
    assert len(list(out.iterdir())) == 200 * 5 + 1
    assert main(["compose", str(shoot), "--keypoints", str(kp), "--out",
                 str(tmp_path / "plain"), "--json"]) == 0
    assert by_image(final) == by_image(lines(capsys.readouterr().out))
    for r in final:  # each photo's JSON file holds its recorded line
        stem = Path(r["image"]).stem
        assert json.loads((out / f"{stem}_shots.json").read_text()) == r


GPU_CHECK = r"""
import json, sys
import ray
from shotcrop_core.batch import ComposeRun
from shotcrop_core.pipeline import EngineSpec
from shotcrop_core.scale import compose_dataset
from shotcrop_core.scale.stage import Pool

ray.init(address=sys.argv[1], logging_level="ERROR")
gpu_node = next(n["NodeID"] for n in ray.nodes() if n["Resources"].get("GPU"))
run = ComposeRun(perception="movenet", write=False)
keypoints = ComposeRun(perception="keypoints")
plans = {"movenet": Pool.plan(run), "half": Pool.plan(run, gpus_per_worker=0.5),
         "cpu": Pool.plan(ComposeRun(perception="movenet", device="cpu")),
         "keypoints": Pool.plan(keypoints, scale=False), "one": Pool.plan(keypoints, workers=1),
         "vlm": Pool.plan(ComposeRun(perception="none"), EngineSpec("vlm", device="cuda"))}

@ray.remote
def node():
    return ray.get_runtime_context().get_node_id()

photos = ray.data.from_items([{"image": p} for p in sys.argv[2:]])
shot_sets = compose_dataset(photos, run)
asked = shot_sets._logical_plan.dag.ray_remote_args  # what the actors ask of Ray (its plan)
rows = shot_sets.take_all()
print(json.dumps({"plans": {k: [v.workers, v.gpus_per_worker, v.cpus_per_worker]
                            for k, v in plans.items()},
                  "gpu_task_on_gpu_node": ray.get(node.options(num_gpus=1).remote()) == gpu_node,
                  "actors_ask": [asked.get("num_gpus"), asked.get("num_cpus")],
                  "errors": [r["error"] for r in rows],
                  "shots": [len(json.loads(r["shots"])["shots"]) for r in rows]}))
"""


def test_gpu_actors_on_the_node_with_the_gpu(head):
    """A model runs and the cluster has a GPU: one actor per GPU, num_gpus=1 (a GPU task lands
    on the worker node, the one that has it); given keypoints or --device cpu: CPU actors,
    sharing out the CPUs of a node at most. A driver of its own, as a user's script is."""
    address, env = head
    photos = [str(DATA / n) for n in ("000000000790.jpg", "000000234748.jpg")]
    p = subprocess.run([sys.executable, "-c", GPU_CHECK, address, *photos], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["plans"] == {"movenet": [1, 1.0, 1.0], "half": [2, 0.5, 1.0],
                            "cpu": [[1, 2], 0.0, 1.0], "keypoints": [2, 0.0, 1.0],
                            "one": [1, 0.0, 1.0], "vlm": [1, 1.0, 1.0]}
    assert got["gpu_task_on_gpu_node"] and got["actors_ask"] == [1.0, 1.0]
    assert got["errors"] == [None, None] and got["shots"] == [3, 3]
