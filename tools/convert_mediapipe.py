#!/usr/bin/env python3
"""Convert MediaPipe 0.10.21's pose/face .tflite files to safetensors for shotcrop_core.perception.blaze_nets.

    python tools/convert_mediapipe.py [--wheel mediapipe-0.10.21-...whl] [--out DIR]

Without --wheel it runs `pip download --no-deps mediapipe==0.10.21` into a temp dir. The .tflite
flatbuffers are parsed with the pure-python `tflite` package, installed on the fly into a
throwaway --target dir when missing (a tool-time dependency only; nothing here runs at import of
shotcrop). Constant chains DENSIFY (TFLite sparsity: CSR per dimension) -> DEQUANTIZE (fp16, or
int8 with scale/zero point) are folded to dense arrays; conv/depthwise weights are then assigned to
the torch modules by matching their execution order and weight shapes, and saved as fp16 (the
tflite weights are fp16, so this is lossless) or fp32 when the source was not fp16.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VERSION = "0.10.21"
#: safetensors stem -> path inside the wheel
MODELS = {
    "pose_detection": "mediapipe/modules/pose_detection/pose_detection.tflite",
    "pose_landmark_full": "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    "face_detection_full_range": "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
}
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _import_tflite(tmp: Path):
    try:
        import tflite  # noqa: F401
    except ImportError:  # throwaway --target install: never a dependency of the package
        target = tmp / "tflite_pkg"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        str(target), "tflite==2.18.0", "flatbuffers"], check=True)
        sys.path.insert(0, str(target))
    import tflite

    return tflite


def _densify(shape: list[int], sp, values: np.ndarray) -> np.ndarray:
    """TFLite SparsityParameters -> dense array (no block maps in these models)."""
    import tflite
    from tflite.SparseIndexVector import SparseIndexVector as SIV

    if sp.BlockMapLength():
        raise NotImplementedError("block-sparse tensors")
    order = list(sp.TraversalOrderAsNumpy())
    vec_cls = {SIV.Int32Vector: tflite.Int32Vector, SIV.Uint16Vector: tflite.Uint16Vector,
               SIV.Uint8Vector: tflite.Uint8Vector}

    def index_vector(kind: int, table) -> np.ndarray:
        v = vec_cls[kind]()
        v.Init(table.Bytes, table.Pos)
        return v.ValuesAsNumpy().astype(np.int64)

    dims = []
    for i in range(sp.DimMetadataLength()):
        d = sp.DimMetadata(i)
        if d.Format() == 0:  # DENSE
            dims.append((d.DenseSize(), None, None))
        else:  # SPARSE_CSR
            dims.append((None, index_vector(d.ArraySegmentsType(), d.ArraySegments()),
                         index_vector(d.ArrayIndicesType(), d.ArrayIndices())))
    out = np.zeros(shape, values.dtype)
    coord = [0] * len(shape)

    def walk(level: int, pos: int) -> None:
        size, seg, idx = dims[level]
        slots = ((i, pos * size + i) for i in range(size)) if seg is None else \
            ((int(idx[j]), j) for j in range(seg[pos], seg[pos + 1]))
        for c, p in slots:
            coord[order[level]] = c
            if level == len(dims) - 1:
                out[tuple(coord)] = values[p]
            else:
                walk(level + 1, p)

    walk(0, 0)
    return out


def parse(buf: bytes) -> tuple[list[dict], dict]:
    """The conv/depthwise ops of subgraph 0 in op order, with dense float weights, plus I/O info."""
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator

    opname = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    np_type = {0: np.float32, 1: np.float16, 2: np.int32, 9: np.int8, 3: np.uint8}
    m = tflite.Model.GetRootAsModel(buf, 0)
    g = m.Subgraphs(0)
    const: dict[int, np.ndarray] = {}
    source_fp16: dict[int, bool] = {}

    def tensor(i: int) -> np.ndarray:
        if i not in const:  # a raw buffer
            t = g.Tensors(i)
            raw = m.Buffers(t.Buffer()).DataAsNumpy()
            a = np.frombuffer(raw.tobytes(), np_type[t.Type()])
            if t.Sparsity() is None:
                a = a.reshape(t.ShapeAsNumpy())
            const[i] = a
            source_fp16[i] = t.Type() == 1
        return const[i]

    convs: list[dict] = []
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        code = m.OperatorCodes(op.OpcodeIndex())
        name = opname[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins, outs = list(op.InputsAsNumpy()), list(op.OutputsAsNumpy())
        if name == "DENSIFY":
            t = g.Tensors(ins[0])
            const[outs[0]] = _densify(list(t.ShapeAsNumpy()), t.Sparsity(), tensor(ins[0]))
            source_fp16[outs[0]] = source_fp16[ins[0]]
        elif name == "DEQUANTIZE":
            t, a = g.Tensors(ins[0]), tensor(ins[0])
            q = t.Quantization()
            if a.dtype != np.float16:  # int8/uint8: (q - zero_point) * scale, per channel if given
                ax = q.QuantizedDimension()
                bshape = [-1 if d == ax else 1 for d in range(a.ndim)] if q.ScaleLength() > 1 else [1]
                zero, scale = q.ZeroPointAsNumpy().reshape(bshape), q.ScaleAsNumpy().reshape(bshape)
                a = (a.astype(np.float32) - zero) * scale
            const[outs[0]] = a.astype(np.float32)
            source_fp16[outs[0]] = source_fp16[ins[0]]
        elif name in CONV_OPS:
            w, b = tensor(ins[1]), tensor(ins[2])
            convs.append({"op": k, "kind": name, "w": w.astype(np.float32), "b": b.astype(np.float32),
                          "fp16": source_fp16[ins[1]] and source_fp16[ins[2]]})
    desc = lambda i: (g.Tensors(i).Name().decode(), list(g.Tensors(i).ShapeAsNumpy()))  # noqa: E731
    io = {"inputs": [desc(i) for i in g.InputsAsNumpy()], "outputs": [desc(i) for i in g.OutputsAsNumpy()]}
    return convs, io


def get_wheel(wheel: Path | None, tmp: Path) -> Path:
    """The given wheel, or mediapipe==VERSION for CPython 3.11 manylinux x86_64 fetched by pip into
    tmp (platform pinned so every run reads the same file; NOTICE records the .tflite hashes)."""
    if wheel is not None:
        return wheel
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
                    f"mediapipe=={VERSION}", "-d", str(tmp)], check=True)
    return next(tmp.glob("mediapipe-*.whl"))


def torch_layout(c: dict) -> np.ndarray:
    # TFLite OHWI (conv) / 1HWC (depthwise) -> torch OIHW / C1HW
    return c["w"].transpose(3, 0, 1, 2) if c["kind"] == "DEPTHWISE_CONV_2D" else c["w"].transpose(0, 3, 1, 2)


def assign(net, convs: list[dict], size: int) -> tuple[dict[str, np.ndarray], list[int]]:
    """Map tflite convs to the module's Conv layers: execution order + identical weight shape."""
    import torch

    from shotcrop_core.perception.blaze_nets import Conv

    order: list[str] = []
    names = {mod: n for n, mod in net.named_modules()}
    hooks = [mod.register_forward_hook(lambda mod, i, o: order.append(names[mod]))
             for mod in net.modules() if isinstance(mod, Conv)]
    with torch.no_grad():
        net(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    state, free = {}, list(convs)
    for name in order:
        mod = net.get_submodule(name)
        want = (mod.groups > 1, tuple(mod.weight.shape))
        hit = next(c for c in free if (c["kind"] == "DEPTHWISE_CONV_2D", torch_layout(c).shape) == want)
        free.remove(hit)
        state[f"{name}.weight"], state[f"{name}.bias"] = torch_layout(hit), hit["b"]
        state[f"{name}._fp16"] = hit["fp16"]
    return state, [c["op"] for c in free]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", type=Path, help=f"mediapipe-{VERSION} wheel (downloaded when omitted)")
    ap.add_argument("--out", type=Path, default=ROOT / "shotcrop_core/perception/weights")
    args = ap.parse_args()
    from safetensors.numpy import save_file

    from shotcrop_core.perception.blaze_nets import NETS, WEIGHT_FILES

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        _import_tflite(tmp)
        wheel = get_wheel(args.wheel, tmp)
        args.out.mkdir(parents=True, exist_ok=True)
        notes = []
        with zipfile.ZipFile(wheel) as zf:
            for stem, inner in MODELS.items():
                buf = zf.read(inner)
                convs, io = parse(buf)
                net = NETS[stem]()
                size = int(io["inputs"][0][1][1])
                state, unused = assign(net, convs, size)
                fp16 = all(v for k, v in state.items() if k.endswith("._fp16"))
                arrays = {k: np.ascontiguousarray(v, np.float16 if fp16 else np.float32)
                          for k, v in state.items() if not k.endswith("._fp16")}
                if fp16:  # the fp16 round trip must be exact
                    assert all(np.array_equal(arrays[k].astype(np.float32), state[k]) for k in arrays)
                missing = set(net.state_dict()) - set(arrays)
                assert not missing, missing
                sha = hashlib.sha256(buf).hexdigest()
                out = args.out / WEIGHT_FILES[stem]
                # one metadata key: safetensors orders keys by hash, more would not be byte-reproducible
                save_file(arrays, str(out), metadata={"source": f"mediapipe=={VERSION}:{inner} sha256:{sha}"})
                out.chmod(0o644)
                print(f"{out.name}: {len(arrays) // 2} convs, {out.stat().st_size / 1e6:.2f} MB "
                      f"({'fp16' if fp16 else 'fp32'}); tflite convs not used (op index): {unused}")
                print(f"  inputs {io['inputs']} outputs {io['outputs']}")
                notes.append(f"  {WEIGHT_FILES[stem]}\n    from {inner}\n    sha256 {sha}\n")
            licence = zf.read(f"mediapipe-{VERSION}.dist-info/LICENSE").decode()
        notice = NOTICE.format(version=VERSION, wheel=Path(wheel).name, files="".join(notes))
        (args.out / "NOTICE").write_text(
            f"{notice}\n---- mediapipe-{VERSION}.dist-info/LICENSE (verbatim) ----\n\n{licence}")


NOTICE = """\
The *.safetensors files in this folder are weights of Google's MediaPipe models, converted
(format change only: sparse fp16 tensors densified, TFLite OHWI layouts transposed to
PyTorch OIHW, segmentation-only layers of the pose landmark model left out; values unchanged,
stored as fp16 exactly as in the source) from the mediapipe {version} wheel on PyPI
({wheel}, https://pypi.org/project/mediapipe/{version}/):

{files}
MediaPipe is Copyright The MediaPipe Authors and is licensed under the Apache License,
Version 2.0 (the "License"); you may not use these files except in compliance with the
License. You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed under the
License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND,
either express or implied. See the License for the specific language governing permissions
and limitations under the License. The wheel's licence file is reproduced below.

Regenerate with:
    python tools/convert_mediapipe.py --wheel {wheel}
or, downloading the wheel with pip:
    python tools/convert_mediapipe.py
"""


if __name__ == "__main__":
    main()
