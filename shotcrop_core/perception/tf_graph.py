"""Run a converted TF.js graph model (tools/convert_human_models.py) with PyTorch.

The .safetensors file holds the graph's constants and, in its metadata, the node list in
execution order. `GraphNet` walks that list with a fixed table of TensorFlow ops written in
torch: nothing from the file is executed as code, and an op outside the table is a load error.
Layouts are the graph's own (NHWC convolutions run as channels_last NCHW views, so the
transposes are free). Reshapes whose target starts with a batch of 1 take the input's batch, so
a graph exported for one image runs on a batch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

WEIGHTS_DIR = Path(__file__).parent / "weights"
CAST = {"float32": torch.float32, "int32": torch.int32, "int64": torch.int64, "bool": torch.bool}


def _same_pad(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF's SAME padding: the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


#: TF activation op -> our name, and how each runs in place on a fresh conv output.
ACTS = {"Relu": "relu", "Relu6": "relu6", "LeakyRelu": "leaky"}
_ACT_FN = {"relu": lambda y, a: F.relu_(y), "relu6": lambda y, a: F.hardtanh_(y, 0.0, 6.0),
           "leaky": lambda y, a: F.leaky_relu_(y, a["alpha"])}


def _conv(x: list[Tensor], a: dict) -> Tensor:
    """Every convolution of a graph, as `fuse()` rewrites it: input/output layout, TF's SAME or
    explicit padding, bias and activation in one op (no separate pad, bias add, transpose or
    activation pass)."""
    inp = x[0] if a["in"] == "nchw" else x[0].permute(0, 3, 1, 2)
    w, b = x[1], (x[2] if len(x) > 2 else None)
    sh, sw, dh, dw = a["stride"] + a["dil"]
    pad = a["pad"]
    if pad == "SAME":
        pt, pb = _same_pad(inp.shape[2], w.shape[2], sh, dh)
        pl, pr = _same_pad(inp.shape[3], w.shape[3], sw, dw)
        pad = [pt, pl] if (pt, pl) == (pb, pr) else None
        if pad is None:
            inp = F.pad(inp, (pl, pr, pt, pb))
            pad = [0, 0]
    y = F.conv2d(inp, w, b, (sh, sw), tuple(pad), (dh, dw), inp.shape[1] if a["dw"] else 1)
    if "act" in a:
        y = _ACT_FN[a["act"]](y, a)
    return y if a["out"] == "nchw" else y.permute(0, 2, 3, 1)


def _reshape(x: Tensor, shape: Tensor) -> Tensor:
    s = [int(v) for v in shape.tolist()]
    if s and s[0] == 1 and x.shape[0] != 1:
        s[0] = x.shape[0]
    return x.reshape(s)


def _pad(x: Tensor, p: Tensor, value: float = 0.0) -> Tensor:
    p = p.tolist()
    flat = [v for pair in reversed(p) for v in pair]
    return F.pad(x, flat, value=value)


def _maxpool(x: Tensor, a: dict) -> Tensor:
    kh, kw = a["ksize"][1:3]
    sh, sw = a["strides"][1:3]
    x = x.permute(0, 3, 1, 2)
    if a.get("padding") == "SAME":
        pt, pb = _same_pad(x.shape[2], kh, sh, 1)
        pl, pr = _same_pad(x.shape[3], kw, sw, 1)
        x = F.pad(x, (pl, pr, pt, pb), value=-math.inf)
    return F.max_pool2d(x, (kh, kw), (sh, sw)).permute(0, 2, 3, 1)


def _resize(x: Tensor, size: Tensor, a: dict) -> Tensor:
    if not a.get("half_pixel_centers") and not a.get("align_corners"):
        raise ValueError("ResizeBilinear without half-pixel centres is not supported")
    h, w = (int(v) for v in size.tolist())
    if "ratio" in a:  # made input-size independent by GraphNet.resize_by_ratio
        h, w = round(x.shape[1] * a["ratio"][0]), round(x.shape[2] * a["ratio"][1])
    y = F.interpolate(x.permute(0, 3, 1, 2), (h, w), mode="bilinear",
                      align_corners=bool(a.get("align_corners")))
    return y.permute(0, 2, 3, 1)


def _gather_nd(params: Tensor, idx: Tensor) -> Tensor:
    idx = idx.long()
    k = idx.shape[-1]
    return params[tuple(idx[..., i] for i in range(k))]


def _concat(args: list[Tensor], a: dict) -> Tensor:
    return torch.cat(args[:-1], int(args[-1]))


#: op -> f(args, attrs) -> Tensor or tuple of Tensors
OPS = {
    "Identity": lambda x, a: x[0],
    "Add": lambda x, a: x[0] + x[1],
    "AddV2": lambda x, a: x[0] + x[1],
    "Sub": lambda x, a: x[0] - x[1],
    "Mul": lambda x, a: x[0] * x[1],
    "RealDiv": lambda x, a: x[0] / x[1],
    "FloorDiv": lambda x, a: torch.div(x[0], x[1], rounding_mode="floor"),
    "SquaredDifference": lambda x, a: (x[0] - x[1]) ** 2,
    "Sqrt": lambda x, a: torch.sqrt(x[0]),
    "Sigmoid": lambda x, a: torch.sigmoid(x[0]),
    "LeakyRelu": lambda x, a: F.leaky_relu(x[0], a.get("alpha", 0.2)),
    "Cast": lambda x, a: x[0].to(CAST[a["DstT"]]),
    "Transpose": lambda x, a: x[0].permute(*x[1].tolist()),
    "Reshape": lambda x, a: _reshape(x[0], x[1]),
    "ExpandDims": lambda x, a: x[0].unsqueeze(int(x[1])),
    "Squeeze": lambda x, a: x[0].squeeze(tuple(a["squeeze_dims"])) if a.get("squeeze_dims") else x[0].squeeze(),
    "Unpack": lambda x, a: tuple(x[0].unbind(a.get("axis", 0))),
    "Pack": lambda x, a: torch.stack(x, a.get("axis", 0)),
    "ConcatV2": _concat,
    "SplitV": lambda x, a: tuple(torch.split(x[0], [int(v) for v in x[1].tolist()], int(x[2]))),
    "Pad": lambda x, a: _pad(x[0], x[1]),
    "PadV2": lambda x, a: _pad(x[0], x[1], float(x[2])),
    "ArgMax": lambda x, a: torch.argmax(x[0], int(x[1])).to(CAST[a.get("output_type", "int64")]),
    "GatherNd": lambda x, a: _gather_nd(x[0], x[1]),
    "MaxPool": lambda x, a: _maxpool(x[0], a),
    "_Conv": _conv,
    "ResizeBilinear": lambda x, a: _resize(x[0], x[1], a),
}
#: TF convolutions (`fuse` turns each into a `_Conv`): their second input is a filter, stored
#: HWIO (HWCM for depthwise) and used as OIHW.
CONV_OPS = ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")


def _conv_op(o: dict) -> dict:
    """A TF convolution as a `_Conv` op (layout NHWC in and out, its own bias and activation)."""
    a = o["attr"]
    if a.get("data_format", "NHWC") != "NHWC" or a.get("padding") not in ("SAME", "VALID"):
        raise ValueError(f"{o['name']}: {o['op']} with {a.get('data_format')} / "
                         f"{a.get('padding')} padding is not supported")
    f = {"op": "_Conv", "name": o["name"], "in": o["in"][:2],
         "attr": {"in": "nhwc", "out": "nhwc", "pad": "SAME" if a["padding"] == "SAME" else [0, 0],
                  "stride": a.get("strides", [1, 1, 1, 1])[1:3],
                  "dil": a.get("dilations", [1, 1, 1, 1])[1:3], "dw": "Depthwise" in o["op"]}}
    post = list(a.get("fused_ops", []))
    if post[:1] == ["BiasAdd"]:
        f["in"].append(o["in"][2])
        post = post[1:]
    if len(post) > 1 or (post and post[0] not in ACTS):
        raise ValueError(f"{o['name']}: fused ops {a.get('fused_ops')} are not supported")
    if post:
        f["attr"]["act"] = ACTS[post[0]]
        f["attr"]["alpha"] = a.get("leakyrelu_alpha", 0.2)
    return f


def fuse(ops: list[dict], consts: dict[str, Tensor], keep: set[str]) -> list[dict]:
    """Turn every convolution into one `_Conv` op and fold its neighbours into it: a symmetric
    spatial Pad and the NCHW->NHWC Transpose before it (NanoDet's ONNX export), the bias Add,
    the NHWC->NCHW Transpose and the activation after it, in that order. A neighbour is folded
    only when the chain is its sole reader and its constants are constants, and nodes in `keep`
    (requested outputs) are never folded away, so results are those of the unfused graph."""
    by_name = {o["name"]: o for o in ops}
    readers: dict[str, list[str]] = {}
    for o in ops:
        for i in o["in"]:
            readers.setdefault(i.split(":")[0], []).append(o["name"])

    def only_reader(name: str) -> dict | None:
        r = readers.get(name, [])
        return by_name[r[0]] if len(r) == 1 and name not in keep else None

    def const(name: str) -> list | None:
        return consts[name].tolist() if name in consts else None

    def perm(o: dict | None) -> list[int] | None:
        return const(o["in"][1]) if o and o["op"] == "Transpose" else None

    dead: set[str] = set()
    fused: dict[str, dict] = {}
    for o in ops:
        if o["op"] not in CONV_OPS:
            continue
        f = _conv_op(o)
        a = f["attr"]
        w = consts.get(o["in"][1])
        out_channels = (w.shape[2] * w.shape[3] if a["dw"] else w.shape[3]) if w is not None else 0
        # before: Pad (NCHW, symmetric spatial) -> Transpose [0, 2, 3, 1] -> conv
        t = by_name.get(o["in"][0])
        if perm(t) == [0, 2, 3, 1] and only_reader(t["name"]) is o:
            f["in"][0], a["in"] = t["in"][0], "nchw"
            dead.add(t["name"])
            p = by_name.get(t["in"][0])
            pads = const(p["in"][1]) if p and p["op"] == "Pad" else None
            if (pads and only_reader(p["name"]) is t and a["pad"] == [0, 0]
                    and pads[0] == [0, 0] and pads[1] == [0, 0]
                    and all(x == y for x, y in pads[2:])):
                f["in"][0], a["pad"] = p["in"][0], [pads[2][0], pads[3][0]]
                dead.add(p["name"])
        # after: + bias -> Transpose [0, 3, 1, 2] -> activation (bias only before any activation)
        last, nxt = o, only_reader(o["name"])
        if (len(f["in"]) == 2 and "act" not in a and nxt and nxt["op"] in ("Add", "AddV2")
                and nxt["in"][0] == o["name"] and nxt["in"][1] in consts
                and tuple(consts[nxt["in"][1]].shape) == (out_channels,)):
            f["in"].append(nxt["in"][1])
            dead.add(last["name"])
            last, nxt = nxt, only_reader(nxt["name"])
        if "act" not in a and perm(nxt) == [0, 3, 1, 2]:
            a["out"] = "nchw"
            dead.add(last["name"])
            last, nxt = nxt, only_reader(nxt["name"])
        if "act" not in a and nxt and nxt["op"] in ACTS:
            a["act"], a["alpha"] = ACTS[nxt["op"]], nxt["attr"].get("alpha", 0.2)
            dead.add(last["name"])
            last = nxt
        f["name"] = last["name"]
        dead.add(last["name"])  # the fused op takes its place (and name) at the conv's position
        fused[o["name"]] = f
    return [fused.get(o["name"], o) for o in ops if o["name"] in fused or o["name"] not in dead]


#: Arguments ops read as Python values (left on the CPU): position, or position from the end.
_PY_ARGS = {"Transpose": (1,), "Reshape": (1,), "ExpandDims": (1,), "ConcatV2": (-1,),
            "SplitV": (1, 2), "Pad": (1,), "PadV2": (1, 2), "ArgMax": (1,),
            "ResizeBilinear": (1,)}


def _on_one_device(op: str, args: list) -> list:
    """Arguments on the device of the first one not on the CPU (the graph's CPU-kept integer
    constants join it), except those the op reads as Python values."""
    dev = next((a.device for a in args if isinstance(a, Tensor) and a.device.type != "cpu"),
               None)
    if dev is None:
        return args
    keep = {k % len(args) for k in _PY_ARGS.get(op, ())}
    return [a.to(dev) if isinstance(a, Tensor) and a.device != dev and k not in keep else a
            for k, a in enumerate(args)]


class GraphNet(nn.Module):
    """A TF graph as a torch module. `forward(x)` gives the graph's outputs; `run(feeds, outputs)`
    evaluates any node from any fed nodes (e.g. a batched backbone's heads, then one item's
    post-processing)."""

    def __init__(self, ops: list[dict], tensors: dict[str, Tensor], outputs: list[str],
                 keep: tuple[str, ...] = ()) -> None:
        super().__init__()
        unknown = sorted({o["op"] for o in ops} - set(OPS) - set(CONV_OPS) - {"Placeholder"})
        if unknown:
            raise ValueError(f"graph uses unsupported ops: {', '.join(unknown)}")
        ops = fuse(ops, tensors, {n.split(":")[0] for n in (*outputs, *keep)})
        self.ops, self.outputs = ops, list(outputs)
        self.input = next(o["name"] for o in ops if o["op"] == "Placeholder")
        self._names: dict[str, str] = {}
        #: Integer constants (shapes, axes, indices) stay on the CPU, where ops read them as
        #: Python values without a device sync; `run` moves them where arithmetic needs them.
        self._ints: dict[str, Tensor] = {}
        filters = {o["in"][1]: "hwcm" if o["attr"]["dw"] else "hwio"
                   for o in ops if o["op"] == "_Conv"}
        for k, (name, t) in enumerate(sorted(tensors.items())):
            if t.dtype == torch.float16:
                t = t.float()
            # Filters as OIHW in channels_last memory: oneDNN then keeps activations channels_last
            # (NanoDet's NCHW graph runs 1.3x faster; MoveNet's NHWC graph is already so).
            if filters.get(name) == "hwio":
                t = t.permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
            elif filters.get(name) == "hwcm":  # [H, W, C, M] -> [C*M, 1, H, W]
                h, w, c, m = t.shape
                t = (t.reshape(h, w, c * m).permute(2, 0, 1).unsqueeze(1)
                     .contiguous(memory_format=torch.channels_last))
            if not t.is_floating_point():
                self._ints[name] = t
                continue
            key = f"c{k}"
            self._names[name] = key
            self.register_buffer(key, t)

    def const(self, name: str) -> Tensor:
        return self._ints[name] if name in self._ints else getattr(self, self._names[name])

    def run(self, feeds: dict[str, Tensor], outputs: list[str], watch=None) -> list[Tensor]:
        """The `outputs` nodes computed from `feeds`; `watch(op, args)` sees every op run."""
        env: dict[str, Tensor | tuple] = dict(feeds)

        def get(ref: str) -> Tensor:
            name, _, k = ref.partition(":")
            if name in env:
                v = env[name]
                return v[int(k or 0)] if isinstance(v, tuple) else v
            return self.const(name)

        want = {o.split(":")[0] for o in outputs}
        for o in self._needed(set(feeds), want):
            args = _on_one_device(o["op"], [get(i) for i in o["in"]])
            if watch is not None:
                watch(o, args)
            env[o["name"]] = OPS[o["op"]](args, o["attr"])
        return [get(o) for o in outputs]

    def _needed(self, fed: set[str], want: set[str]) -> list[dict]:
        """The ops between the fed nodes and the wanted ones, in order (cached)."""
        key = (frozenset(fed), frozenset(want))
        cache = self.__dict__.setdefault("_plans", {})
        if key not in cache:
            by_name = {o["name"]: o for o in self.ops}
            need, stack = set(), [w for w in want if w not in fed]
            while stack:
                n = stack.pop()
                if n in need or n in fed or n not in by_name:
                    continue
                need.add(n)
                stack.extend(i.split(":")[0] for i in by_name[n]["in"])
            missing = [n for n in need if by_name[n]["op"] == "Placeholder"]
            if missing:
                raise ValueError(f"graph needs input {missing[0]} to compute {sorted(want)}")
            cache[key] = [o for o in self.ops if o["name"] in need]
        return cache[key]

    def resize_by_ratio(self, native: tuple[int, ...]) -> "GraphNet":
        """Let a graph exported for one input size run on others: every ResizeBilinear scales
        by the ratio it has at the `native` input shape instead of to its fixed size (an FPN's
        2x upsampling stays 2x). Reshapes to fixed sizes still need the native size."""
        resizes = {o["name"]: o for o in self.ops if o["op"] == "ResizeBilinear"}
        seen: dict[str, tuple[int, int]] = {}

        def watch(op: dict, args: list[Tensor]) -> None:
            if op["name"] in resizes:
                seen[op["name"]] = tuple(args[0].shape[1:3])

        x = torch.zeros(native, device=next(self.buffers()).device)
        self.run({self.input: x}, list(resizes), watch)
        for name, (h, w) in seen.items():
            th, tw = (int(v) for v in self.const(resizes[name]["in"][1]).tolist())
            resizes[name]["attr"] = {**resizes[name]["attr"], "ratio": [th / h, tw / w]}
        return self

    def forward(self, x: Tensor, outputs: list[str] | None = None) -> list[Tensor]:
        return self.run({self.input: x}, outputs or self.outputs)


def load_graph(stem: str, device="cpu", weights_dir: str | Path | None = None,
               keep: tuple[str, ...] = ()) -> GraphNet:
    """weights/<stem>.safetensors as a GraphNet on `device`, in eval mode (safetensors only);
    `keep`: inner nodes to be readable (not folded away)."""
    from safetensors import safe_open

    from ..errors import ShotCropError

    path = Path(weights_dir or WEIGHTS_DIR) / f"{stem}.safetensors"
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        net = GraphNet(json.loads(meta["graph"]), tensors, json.loads(meta["outputs"]), keep)
    except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
        raise ShotCropError(f"the built-in model file {path} is missing or damaged ({e}): "
                            "reinstall the ShotCrop package") from None
    return net.to(device).train(False).requires_grad_(False)


__all__ = ["ACTS", "CONV_OPS", "GraphNet", "OPS", "WEIGHTS_DIR", "fuse", "load_graph"]
