"""NanoDet and MoveNet, as converted and run by tf_graph, against TF.js's recorded outputs.

The fixture (tools/record_human_models_reference.py) holds small uint8 images and what the
original runtime (@tensorflow/tfjs 4.22.0, CPU backend, on the npm package's own model files)
gave for them, so neither Node nor TF.js is needed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

FIXTURE = Path(__file__).parent / "fixtures" / "human_nets_reference.npz"
#: |torch - tfjs| <= REL * max(1, max|tfjs|): float reordering gives ~3e-6; a wrong weight,
#: padding, layout or fused op gives O(1).
REL = 1e-4


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURE, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def blow_up(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """The recorder's recipe: nearest neighbour by integer indices."""
    iy, ix = (np.arange(h) * img.shape[0]) // h, (np.arange(w) * img.shape[1]) // w
    return img[iy][:, ix]


def close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, what
    tol = REL * max(1.0, float(np.abs(want).max()))
    diff = float(np.abs(got - want).max())
    assert diff <= tol, f"{what}: max abs diff {diff:.3g} > {tol:.3g}"


@pytest.mark.parametrize("image", ["photo", "noise"])
def test_nanodet_matches_tfjs(ref, image: str) -> None:
    from shotcrop_core.perception import nanodet as N
    from shotcrop_core.perception.tf_graph import load_graph

    net = load_graph("nanodet")
    x = blow_up(ref[f"nanodet/{image}"], N.SIZE, N.SIZE).astype(np.float32)
    x = ((x[..., ::-1] - N.MEAN_BGR) / N.STD_BGR).transpose(2, 0, 1)
    with torch.inference_mode():
        outs = [o.numpy()[0] for o in net(torch.from_numpy(np.ascontiguousarray(x))[None])]
    for k in range(3):
        key = f"nanodet/{image}"
        rows = ref[f"{key}/rows{k}"]
        close(outs[k][:, 0], ref[f"{key}/person{k}"], f"{key} person scores, stride {k}")
        close(outs[k][rows], ref[f"{key}/scores{k}"], f"{key} scores, stride {k}")
        close(outs[k + 3][rows], ref[f"{key}/bins{k}"], f"{key} bins, stride {k}")


#: fixture prefix -> MoveNet kind
MOVENETS = {"movenet": "thunder", "movenet_lightning": "lightning"}


@pytest.mark.parametrize("prefix", sorted(MOVENETS))
@pytest.mark.parametrize("image", ["photo", "noise"])
def test_movenet_matches_tfjs(ref, prefix: str, image: str) -> None:
    from shotcrop_core.perception import movenet as M
    from shotcrop_core.perception.tf_graph import load_graph

    stem, size = M.NETS[MOVENETS[prefix]]
    net = load_graph(stem)
    x = blow_up(ref[f"{prefix}/{image}"], size, size).astype(np.int32)
    with torch.inference_mode():
        (out,) = net(torch.from_numpy(x)[None])
    close(out.numpy(), ref[f"{prefix}/{image}/keypoints"], f"{prefix}/{image}")


def test_photo_is_a_person_to_the_recorded_networks(ref) -> None:
    """The fixture photo (one man by a car) is a person to NanoDet and MoveNet in TF.js."""
    assert max(ref[f"nanodet/photo/person{k}"].max() for k in range(3)) > 0.5
    assert np.median(ref["movenet/photo/keypoints"][0, 0, :, 2]) > 0.3
    assert np.median(ref["movenet_lightning/photo/keypoints"][0, 0, :, 2]) > 0.3
    assert ref["nanodet/noise/person0"].max() < 0.3


@pytest.mark.parametrize("kind", ["thunder", "lightning"])
def test_batched_heads_and_per_person_post_processing_match_the_whole_graph(ref, kind) -> None:
    """topdown runs MoveNet's backbone on a batch (fed after the graph's batch-of-one preamble)
    and the graph's own post-processing per person: the same keypoints as the whole graph on
    each image alone."""
    from shotcrop_core.perception import movenet as M
    from shotcrop_core.perception.tf_graph import load_graph

    stem, size = M.NETS[kind]
    whole, net = load_graph(stem), load_graph(stem, keep=M.HEADS)
    xs = np.stack([blow_up(ref[f"movenet/{k}"], size, size) for k in ("photo", "noise")])
    with torch.inference_mode():
        heads = net.run({M.BATCH_INPUT: torch.from_numpy(xs.astype(np.float32))}, list(M.HEADS))
        for k in range(2):
            (alone,) = whole(torch.from_numpy(xs[k:k + 1].astype(np.int32)))
            (mine,) = net.run({h: v[k:k + 1] for h, v in zip(M.HEADS, heads)}, net.outputs)
            close(mine.numpy(), alone.numpy(), f"image {k}")


def test_nanodet_decoding_on_any_input_shape(ref) -> None:
    """The head maps topdown reads (before the graph's fixed reshapes) hold the graph's own
    outputs at 416x416, and with resize_by_ratio the net runs on a 3:2 input."""
    from shotcrop_core.perception import nanodet as N
    from shotcrop_core.perception.tf_graph import load_graph

    net = load_graph("nanodet", keep=N.HEAD_NODES).resize_by_ratio((1, 3, N.SIZE, N.SIZE))
    x = blow_up(ref["nanodet/photo"], N.SIZE, N.SIZE).astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(((x[..., ::-1] - N.MEAN_BGR) / N.STD_BGR).transpose(2, 0, 1)))[None]
    with torch.inference_mode():
        outs = net(x)
        heads = net(x, list(N.HEAD_NODES))
        for k in range(3):
            cls, reg = heads[2 * k][0], heads[2 * k + 1][0]
            close(cls.reshape(80, -1).T.numpy(), outs[k][0].numpy(), f"scores {k}")
            close(reg.reshape(44, -1).T.numpy(), outs[k + 3][0].numpy(), f"bins {k}")
        wide = net(x[:, :, :288], list(N.HEAD_NODES))
    assert [tuple(h.shape[2:]) for h in wide[0::2]] == [(36, 52), (18, 26), (9, 13)]


def test_decode_boxes_from_bins() -> None:
    """Distances are the softmax expectation of the bins times the stride, from cell centres:
    a peaked bin k on every side of cell (x, y) at stride 8 gives a box 8k around the centre."""
    from shotcrop_core.perception import nanodet as N

    cls = [np.zeros((80, 52, 52), np.float32), np.zeros((80, 26, 26), np.float32),
           np.zeros((80, 13, 13), np.float32)]
    reg = [np.full((44, s, s), -50.0, np.float32) for s in (52, 26, 13)]
    cls[0][N.PERSON, 10, 20] = 0.9            # row 10, column 20
    for side, k in enumerate((2, 3, 4, 5)):   # left 2 bins, top 3, right 4, bottom 5
        reg[0][side * N.BINS + k, 10, 20] = 50.0
    cls[1][1, 5, 5] = 0.9                     # a bicycle: not a person
    boxes, scores = N.decode(cls, reg, 0.25)
    cx, cy = 20.5 * 8, 10.5 * 8
    np.testing.assert_allclose(boxes, [[cx - 16, cy - 24, cx + 32, cy + 40]], atol=1e-3)
    np.testing.assert_allclose(scores, [0.9], rtol=1e-6)


def test_unknown_op_is_a_load_error() -> None:
    from shotcrop_core.perception.tf_graph import GraphNet

    ops = [{"op": "Placeholder", "name": "x", "in": [], "attr": {}},
           {"op": "PyFunc", "name": "y", "in": ["x"], "attr": {}}]
    with pytest.raises(ValueError, match="unsupported ops: PyFunc"):
        GraphNet(ops, {}, ["y"])


def test_fuse_keeps_the_order_of_bias_and_activation() -> None:
    """A conv whose own fused op is a Relu, then an Add of a per-channel constant, then a
    LeakyRelu: the Add must stay after the Relu (relu(conv) + b, not relu(conv + b)). Expected
    values from torch directly (NHWC conv, SAME padding with stride 2: the extra row after)."""
    import torch.nn.functional as F

    from shotcrop_core.perception.tf_graph import GraphNet

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 8, 8, 3, generator=g)
    w = torch.randn(3, 3, 3, 4, generator=g)          # HWIO
    b = torch.randn(4, generator=g) - 2.0
    ops = [{"op": "Placeholder", "name": "x", "in": [], "attr": {}},
           {"op": "_FusedConv2D", "name": "conv", "in": ["x", "w"],
            "attr": {"padding": "SAME", "strides": [1, 2, 2, 1], "fused_ops": ["Relu"]}},
           {"op": "AddV2", "name": "add", "in": ["conv", "b"], "attr": {}},
           {"op": "LeakyRelu", "name": "out", "in": ["add"], "attr": {"alpha": 0.1}}]
    net = GraphNet(ops, {"w": w, "b": b}, ["out"])
    with torch.inference_mode():
        (got,) = net(x)
    xp = F.pad(x.permute(0, 3, 1, 2), (0, 1, 0, 1))  # 8 -> 4: one row/column, after
    want = F.leaky_relu(F.relu(F.conv2d(xp, w.permute(3, 2, 0, 1), stride=2)) + b[:, None, None],
                        0.1).permute(0, 2, 3, 1)
    assert got.shape == (1, 4, 4, 4)
    torch.testing.assert_close(got, want)
    assert [o["op"] for o in net.ops] == ["Placeholder", "_Conv", "AddV2", "LeakyRelu"]
